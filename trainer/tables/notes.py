"""What was done with a column that was no plain number, as a fact: a kind and its values.

``trainer.words`` puts a note in words, for the chat and the command line alike. This module
must stay free of Keras.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ColumnNote:
    """What was done with a column that was no plain number: ``kind`` is "ignored" (with a
    ``reason``), "number" (cells read leniently, words read as gaps, gaps filled), "date",
    "category" or "target_dropped" (rows without a target), and ``values`` holds its figures."""

    column: str
    kind: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"column": ..., "kind": ..., **values}``."""
        return {"column": self.column, "kind": self.kind, **self.values}


def ignored(name: str, reason: str, **values: Any) -> ColumnNote:
    """The note of an ignored column: why (``reason``), and its figures."""
    return ColumnNote(name, "ignored", {"reason": reason, **values})
