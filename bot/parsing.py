"""Reading what people type: commands (also in captions), job ids and model versions."""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram.constants import BotCommandLimit

_LONGEST = int(BotCommandLimit.MAX_COMMAND)
_COMMAND = re.compile(rf"^/([A-Za-z0-9_]{{1,{_LONGEST}}})(?:@([A-Za-z0-9_]{{3,64}}))?(?=\s|$)")
_JOB_ID = re.compile(r"^#?(\d{1,12})$")
_MODEL_VERSION = re.compile(r"^[vV#]?(\d{1,9})$")


@dataclass(frozen=True)
class Command:
    name: str
    args: list[str]


def parse_command(text: str | None, bot_username: str | None) -> Command | None:
    """`/train@bot epochs=5` → Command("train", ["epochs=5"]).

    None when the text is no command, or one addressed to another bot in a group.
    """
    match = _COMMAND.match((text or "").strip())
    if match is None:
        return None
    addressee = match.group(2)
    if addressee and (bot_username is None or addressee.lower() != bot_username.lower()):
        return None
    return Command(match.group(1).lower(), (text or "").strip()[match.end() :].split())


def parse_job_id(args: list[str]) -> int | None:
    """`12` or `#12` → 12; None for anything else."""
    match = _JOB_ID.match(args[0]) if len(args) == 1 else None
    return int(match.group(1)) if match else None


def parse_model_version(args: list[str]) -> int | None:
    """`v2`, `2` or `#2` → 2; None for anything else."""
    match = _MODEL_VERSION.match(args[0]) if len(args) == 1 else None
    return int(match.group(1)) if match else None
