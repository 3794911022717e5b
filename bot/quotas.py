"""The quotas of an open bot, checked before a file is downloaded: trainings one user may start
in an hour, and bytes one chat may keep (its uploads, models and made files).

Each refusal is one sentence that says the limit and when or how the chat can go on. The
checks count what is stored, so they hold across restarts and bot processes; two requests of
one user at the very same moment may both pass (the count is read, not reserved).
"""

from __future__ import annotations

from bot import texts
from bot.context import BotContext
from bot.uploads import Refusal
from storage.quotas import StoredBytes
from storage.retention import DAY_SECONDS
from trainbot.settings import Settings

HOUR_SECONDS = 3600.0


async def check_trainings(context: BotContext, user_id: int) -> None:
    """Refuse a training while the user has started their hourly number of them."""
    limit = context.settings.trainings_per_hour
    if not limit:
        return
    recent = await context.db(
        context.store.quotas.recent_trainings, user_id, limit=limit, window_seconds=HOUR_SECONDS
    )
    if recent.count >= limit:
        raise Refusal(texts.trainings_limit_reached(limit, recent.wait_seconds))


async def check_storage(context: BotContext, chat_id: int, incoming: int | None) -> None:
    """Refuse an upload that would take the chat past the bytes it may keep."""
    settings = context.settings
    limit = settings.max_bytes_per_chat
    if not limit:
        return
    stored = await context.db(context.store.quotas.stored_bytes, chat_id)
    incoming = incoming or 0
    if stored.total + incoming <= limit:
        return
    raise Refusal(
        texts.storage_full(
            stored.total,
            incoming,
            limit,
            has_models=stored.models > 0,
            frees_in=_frees_in(settings, stored),
        )
    )


def _frees_in(settings: Settings, stored: StoredBytes) -> float | None:
    """Seconds until the bot's pruning deletes the chat's oldest upload or file; None when it
    never will (pruning off, or nothing of the kinds it deletes)."""
    if not settings.prune_interval:
        return None
    due = [
        keep_days * DAY_SECONDS - age
        for keep_days, age in (
            (settings.keep_datasets_days, stored.oldest_upload_age),
            (settings.keep_artifacts_days, stored.oldest_file_age),
        )
        if keep_days and age is not None
    ]
    # Pruning runs every prune_interval: what is due goes at its next round at the latest.
    return max(min(due), 0.0) + settings.prune_interval if due else None
