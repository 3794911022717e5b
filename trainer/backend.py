"""Keras backend set-up: quiet logs, full float32 precision on GPUs, and device names.

The backend comes from the ``KERAS_BACKEND`` environment variable (Keras defaults to
TensorFlow); JAX works too. Keras is imported lazily so that importing ``trainer`` stays cheap.
"""

from __future__ import annotations

import functools
import logging
import os
from types import ModuleType

logger = logging.getLogger(__name__)


def load_keras() -> ModuleType:
    """Import Keras with TensorFlow configured for small networks (env vars must come first)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN's kernels pay off for big matrices; for 32-unit layers TensorFlow's plain kernels
    # made each training step about a third faster here. Set it to 1 to get oneDNN back.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    # On a GPU, XLA sums with atomics and autotunes per process, so one seed gave different
    # networks run to run (on an H200, |y(200) - 93.33| was 0.0054 in one run, 0.011 in the
    # next). Deterministic ops make a seed reproduce; an XLA_FLAGS that names the flag wins.
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_gpu_deterministic_ops" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_gpu_deterministic_ops=true".strip()
    import keras

    return keras


@functools.cache
def configure() -> None:
    """Pin full float32 matmul precision: TF32 on recent GPUs made predictions ~15x worse."""
    name = backend_name()
    if name == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
    elif name == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
    logger.info("keras backend %s on %s", name, device_description())


def backend_name() -> str:
    """The Keras backend in use: "tensorflow", "jax", ..."""
    return str(load_keras().backend.backend())


@functools.cache
def device_description() -> str:
    """Where training runs, e.g. "cpu" or "gpu (NVIDIA H200)"."""
    name = backend_name()
    if name == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "cpu":
            return "cpu"
        return f"{device.platform} ({device.device_kind})"
    if name == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return "cpu"
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"gpu ({details.get('device_name', 'unknown')})"
    return "unknown"
