"""Telegram HTML for the bot's sentences: escaping, lengths as Telegram counts them, cutting a
message to fit, plain text for a resend, and durations.

Numbers and file sizes come from `trainer.words`, so that a chat and the command line show
the same figures.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from telegram.constants import MessageLimit

# Telegram's limits on one message's text and on a media caption.
MAX_TEXT = int(MessageLimit.MAX_TEXT_LENGTH)
MAX_CAPTION = int(MessageLimit.CAPTION_LENGTH)
ELLIPSIS = "…"


def esc(value: object) -> str:
    """Anything from users or files (column names, file names, error sentences) as HTML text."""
    return html.escape(str(value), quote=False)


def names(items: Sequence[str], limit: int = 5) -> str:
    """Column names joined for a sentence, shortened when there are many."""
    shown = ", ".join(esc(n) for n in items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
    if seconds < 2 * 86_400:
        return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min"
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


# One piece of HTML that must not be cut: a tag, a character reference, or one character.
_HTML_PIECE = re.compile(r"<[^<>]*>|&(?:#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);|.", re.DOTALL)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """Cut HTML text to `limit` (UTF-16 units, as Telegram counts), ending in "…".

    Never inside a tag or a character reference, and every tag still open at the cut is closed,
    so Telegram can parse the result (a table's <pre> that spans many lines stays whole). The
    cut goes at the last line break when that keeps at least half of what fits. Telegram
    counts the text without its tags: measuring with them keeps well inside its limit.
    """
    if utf16_len(text) <= limit:
        return text
    open_tags: list[str] = []
    used = 0
    cut = 0
    cut_tags: list[str] = []
    line_cut: tuple[int, list[str]] | None = None
    for piece in _HTML_PIECE.finditer(text):
        token = piece[0]
        tags = open_tags
        tag = _TAG.match(token) if token.startswith("<") and len(token) > 1 else None
        if tag is not None:
            closing, name = tag[1] == "/", tag[2].lower()
            if closing and name in open_tags:
                tags = open_tags[: len(open_tags) - 1 - open_tags[::-1].index(name)]
            elif not closing:
                tags = [*open_tags, name]
        closers = sum(len(name) + 3 for name in tags)
        if used + utf16_len(token) + closers + len(ELLIPSIS) + 1 > limit:
            break
        used += utf16_len(token)
        open_tags = tags
        if token == "\n":
            line_cut = (piece.start(), list(open_tags))
        cut, cut_tags = piece.end(), list(open_tags)
    if line_cut is not None and line_cut[0] >= cut // 2:
        cut, cut_tags = line_cut[0], line_cut[1]
        kept = text[:cut] + "\n" + ELLIPSIS
    else:
        kept = text[:cut] + ELLIPSIS
    return kept + "".join(f"</{name}>" for name in reversed(cut_tags))


def plain(text: str) -> str:
    """HTML text as plain text: tags dropped, character references turned back into characters.

    For resending a message that Telegram refused to parse, with no parse mode.
    """
    return html.unescape(re.sub(r"<[^<>]*>", "", text))
