"""Caps on what users may upload and ask for; settings build one from the environment."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """User-changeable caps on data size and training parameters."""

    # Telegram's own download limit for bots (trainbot.settings checks the two agree).
    max_upload_bytes: int = 20_000_000
    max_rows: int = 1_000_000
    min_rows: int = 10
    # Columns of a table (a few hundred inputs train within the speed bars).
    max_columns: int = 300
    # Cells of a table, rows times columns: what a reader holds in memory at once.
    max_cells: int = 10_000_000
    # Numbers per row the network may take (one-hot levels included), and rows times those
    # numbers; categories pool their rarest levels to fit.
    max_features: int = 1000
    max_values: int = 50_000_000
    max_epochs: int = 5000
    min_learning_rate: float = 1e-6
    max_learning_rate: float = 1.0
    max_batch_size: int = 65536
    max_predict_values: int = 50
    max_validation_split: float = 0.5
    # A .xlsx is a zip archive, and a .zip or .gz may hold a table: the most they may unpack
    # to (a guard against zip bombs).
    max_unzipped_bytes: int = 100_000_000

    def feature_budget(self, n_rows: int) -> int:
        """The most numbers per row a table of ``n_rows`` rows may give the network."""
        return max(1, min(self.max_features, self.max_values // max(n_rows, 1)))
