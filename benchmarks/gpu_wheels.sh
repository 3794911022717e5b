#!/usr/bin/env bash
# The wheels the trainer worker needs on a bare GPU host, downloaded into .whl/ (git-ignored).
#
# The lent GPU host (an H200; /work/.library/device: KINDS.md) has Python 3.12 with JAX and its
# CUDA plugin, numpy, scipy, pandas, scikit-learn, matplotlib, pillow, h5py, ml-dtypes,
# absl-py, rich, packaging, typing-extensions and charset-normalizer, but no Keras, no
# TensorFlow, no SQLAlchemy and no network. What the worker imports beyond those (found by
# draining a queue with TensorFlow blocked, see benchmarks/README.md) travels as these wheels,
# at the versions of the project's own environment:
#
#   keras namex optree                          Keras 3 (its JAX backend needs no TensorFlow)
#   SQLAlchemy alembic Mako                     storage/: the queue, migrations on a new file
#   pydantic pydantic-core annotated-types      trainbot/settings.py
#     typing-inspection pydantic-settings python-dotenv
#   cachetools                                  the worker's model cache
#   defusedxml python-calamine                  table reading (.xlsx parts)
#   python-json-logger                          TRAINBOT_LOG_FORMAT=json
#   pandas                                      the image's may be older than the tested 3.x
#   typing-extensions                           pydantic 2.14 needs 4.16 or later
#
# Usage: benchmarks/gpu_wheels.sh            (from the repository root or anywhere)
#        PYTHON=/path/to/python benchmarks/gpu_wheels.sh   (whose versions to pin)
#        GPU_PYTHON_VERSION=3.12 ...                          (the host's Python)
# Then on the host (the device tool, with carry [".whl"]):
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
#       --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=/work/main/.venv/bin/python
[ -x "$PYTHON" ] || PYTHON=python3
TARGET_PY="${GPU_PYTHON_VERSION:-3.12}"
DEST="${WHEEL_DIR:-$ROOT/.whl}"

NAMES=(
    keras namex optree
    SQLAlchemy alembic Mako
    pydantic pydantic-core annotated-types typing-inspection pydantic-settings python-dotenv
    cachetools defusedxml python-calamine python-json-logger
    pandas typing-extensions
)

# NAME==VERSION as installed beside the project, so the host runs what the tests ran.
mapfile -t PINNED < <("$PYTHON" - "${NAMES[@]}" <<'EOF'
import sys
from importlib.metadata import version
for name in sys.argv[1:]:
    print(f"{name}=={version(name)}")
EOF
)

mkdir -p "$DEST"
rm -f "$DEST"/*.whl  # one version of each: two stop the whole install there
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 \
    manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$tag")
done
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$TARGET_PY" \
    --implementation cp "${platforms[@]}" -d "$DEST" "${PINNED[@]}"
ls "$DEST"
du -sh "$DEST"
