"""Numbers and file sizes as people read them, in the sentences of the trainer and of the bot.

Plain text with no Telegram or Keras in it, so both rooms use the same figures: the bot may
import the trainer's light modules, the trainer never imports the bot.
"""

from __future__ import annotations

import math

MISSING = "–"


def number(value: float | None, digits: int = 6) -> str:
    """A number as people read it: 93.3333, 0.00123, 1.5e+07; a dash when missing or not finite.

    `digits` significant digits: 6 where a user may want the figure itself (predictions), fewer
    in tables and sentences that only compare figures.
    """
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:.{digits}g}"


def size(n_bytes: int) -> str:
    """A file size in SI units, as Telegram states its limits: 1.5 MB, 120 kB, 500 bytes."""
    if n_bytes >= 1_000_000:
        return f"{n_bytes / 1_000_000:.1f} MB"
    if n_bytes >= 1_000:
        return f"{n_bytes / 1_000:.0f} kB"
    return f"{n_bytes} bytes"
