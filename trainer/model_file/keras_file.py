"""A trained model as the bytes of a ``.keras`` file that describes itself, and back.

Keras loads the file as it is; ``trainbot.json`` inside (a member Keras ignores) says which
columns the model reads and how, so ``trainbot predict model.keras new.csv`` needs nothing else.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.backend import load_keras
from trainer.errors import PredictError
from trainer.tables.columns import ColumnPlan

if TYPE_CHECKING:
    from trainer.learn.fit import Fit

# A member of the .keras zip that Keras ignores: what trainbot needs to read raw inputs.
MODEL_INFO = "trainbot.json"


def save_model_bytes(result: Fit, plan: ColumnPlan | None = None) -> bytes:
    """The trained model as the bytes of a ``.keras`` file, with the column ``plan`` inside."""
    scaling = dict(result.scaling)
    if plan is not None:
        scaling["columns"] = plan.to_dict()
    info = {
        "feature_names": list(result.feature_names),
        "target_name": result.target_name,
        "feature_ranges": [[float(low), float(high)] for low, high in result.feature_ranges],
        "scaling": scaling,
        "model_kind": result.model_kind,
    }
    if result.classes is not None:  # issue 20: the classes, in the order of the outputs
        info["task"], info["classes"] = result.task, list(result.classes)
    with tempfile.TemporaryDirectory(prefix="trainbot-") as folder:
        path = Path(folder) / "model.keras"
        result.model.save(path)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(MODEL_INFO, json.dumps(info, default=float))
        return path.read_bytes()


def model_file_info(data: bytes) -> dict[str, Any]:
    """What ``save_model_bytes`` wrote about the model, or a PredictError saying why not."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = json.loads(archive.read(MODEL_INFO))
    except KeyError:
        raise PredictError("This .keras file was not made by trainbot.") from None
    except (zipfile.BadZipFile, ValueError, OSError):
        raise PredictError("This is not a .keras model file.") from None
    if not isinstance(info, dict) or not {"feature_names", "target_name", "scaling"} <= set(info):
        raise PredictError("This .keras file was not made by trainbot.")
    return info


def load_model_bytes(data: bytes) -> Any:
    """A Keras model from ``.keras`` file bytes (safe mode: no arbitrary code)."""
    keras = load_keras()
    with tempfile.TemporaryDirectory(prefix="trainbot-") as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(data)
        return keras.saving.load_model(path, compile=False, safe_mode=True)
