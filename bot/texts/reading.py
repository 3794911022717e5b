"""What the bot says when reading a file was stopped in its bounded place: it took too long,
needed more memory than a file may, or its reader died."""

from __future__ import annotations

__all__ = ["read_failure"]


def read_failure(kind: str, seconds: float) -> str:
    if kind == "time":
        return (
            f"That file took too long to read (over {seconds:g} s), so I stopped. Please send a "
            "smaller table, or save it again as a plain CSV."
        )
    if kind == "memory":
        return (
            "That file needs more memory to read than I give one file. Please send fewer rows "
            "or columns, or save it again as a plain CSV."
        )
    return "I couldn't read that file. Please save it again as CSV or .xlsx and send it once more."
