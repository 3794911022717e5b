"""Caps on what users may upload and ask for; settings build one from the environment."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """User-changeable caps on data size and training parameters."""

    max_upload_bytes: int = 10_000_000
    max_rows: int = 1_000_000
    min_rows: int = 10
    max_columns: int = 50
    max_epochs: int = 5000
    min_learning_rate: float = 1e-6
    max_learning_rate: float = 1.0
    max_batch_size: int = 65536
    max_predict_values: int = 50
    max_validation_split: float = 0.5
    # An .xlsx is a zip archive: the most its files may unpack to (a guard against zip bombs).
    max_unzipped_bytes: int = 100_000_000
