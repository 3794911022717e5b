"""Small tables as chats send them, for the queue benchmarks: CSV bytes with Russian headers,
decimal commas and semicolons, one in Windows-1251, built from benchmarks.tables.

Each table is of another shape (rows, inputs), so a batch of them trains as several programs,
as a worker's real mixed batches do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks import tables

REFERENCE_NAME = "reference (°F → °C)"


@dataclass(frozen=True)
class QueueTable:
    """One table as uploaded: its name in reports and the bytes a chat sends."""

    name: str
    content: bytes
    shape: str


def reference(content: bytes) -> QueueTable:
    rows = content.count(b"\n") - 1
    return QueueTable(REFERENCE_NAME, content, f"{rows} × 1")


def mixed(seed: int = 0) -> list[QueueTable]:
    """Six tables of six shapes, written the ways chats write them."""
    rng = np.random.default_rng(seed)
    made = [
        (tables.noisy_linear(rng), "comma"),
        (tables.curved(rng), "semicolon"),
        (tables.few_rows_many_inputs(rng), "comma"),
        (tables.outliers(rng), "cp1251"),
        (tables.growing_noise(rng), "semicolon"),
        (tables.linnerud(), "comma"),
    ]
    return [QueueTable(table.name, _csv(table, style), table.shape) for table, style in made]


def _csv(table: tables.Table, style: str) -> bytes:
    """The table as a CSV: "comma" plain, "semicolon" with decimal commas, "cp1251" both and
    in the Windows code page, headers in Russian, the target last."""
    inputs = [f"признак_{i + 1}" for i in range(table.features.shape[1])]
    header = [*inputs, "цель"]
    separator = "," if style == "comma" else ";"
    lines = [separator.join(header)]
    for features, target in zip(table.features, table.target, strict=True):
        cells = [f"{value:.4f}" for value in (*features, target)]
        if style != "comma":
            cells = [cell.replace(".", ",") for cell in cells]
        lines.append(separator.join(cells))
    text = "\n".join(lines) + "\n"
    return text.encode("cp1251" if style == "cp1251" else "utf-8")
