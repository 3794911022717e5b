"""What every reader of cells shares: which cells are gaps, and how long a value may be.

- Empty cells and the usual markers (``NA``, ``n/a``, ``null``, ``#N/A``, ...) are gaps, and so
  are a spreadsheet's error values: the formula behind them had nothing to say.
- A cell longer than ``MAX_VALUE`` characters is never a number or a date, and a category keeps
  no level longer than ``MAX_LEVEL``: no reader spends more than linear time on a cell, and a
  plan stored with a model stays small whatever the table held.

Numbers are read by ``trainer.tables.numeric``, dates by ``trainer.tables.dates``. This module
must stay free of Keras: the bot checks uploads and ``/predict`` values with these readers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MISSING = frozenset(
    {"", "nan", "-nan", "+nan", "na", "n/a", "#n/a", "null", "none"}
    | {"#div/0!", "#value!", "#ref!", "#num!", "#name?", "#null!"}
)
# "-1,234,567,890.123456 EUR" is 25 characters; 64 leaves room for any number people write.
MAX_VALUE = 64
MAX_LEVEL = 200


def is_missing(cell: str) -> bool:
    """Whether one cell counts as a gap."""
    return cell.strip().lower() in MISSING


def gaps(text: pd.Series) -> np.ndarray:
    """Which cells of a column of text are gaps."""
    return text.astype(str).str.strip().str.lower().isin(MISSING).to_numpy()


def clip(cell: object, limit: int = 24) -> str:
    """A cell as a message quotes it: stripped, and cut with an ellipsis past ``limit``."""
    text = str(cell).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
