"""The rooms' import rules (README, "Design"): the bot stays light, the trainer knows nothing
of Telegram, and only storage speaks SQL."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("keras", "tensorflow", "jax")
SQL = ("sqlalchemy", "alembic", "psycopg")
# Imports of SQL outside storage/ that are known and have a way out. Each must still be true
# (the test fails once it is gone, so the entry goes too).
PENDING_SQL: dict[str, str] = {}


def imported_roots(path: Path) -> set[str]:
    """The top-level packages a file imports anywhere in it (inside functions too)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def sources(*rooms: str) -> list[Path]:
    return sorted(path for room in rooms for path in (ROOT / room).rglob("*.py"))


def test_the_rules_see_imports_inside_functions_too(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os.path\n\ndef f():\n    from telegram.ext import filters\n")
    assert imported_roots(module) == {"os", "telegram"}


def heavy_modules_after(imports: str) -> str:
    """The Keras, TensorFlow or JAX modules loaded once `imports` has run in a fresh Python."""
    code = (
        f"import sys\n{imports}\nheavy = {HEAVY!r}\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_importing_any_bot_module_loads_no_keras_tensorflow_or_jax() -> None:
    every_bot_module = (
        "import importlib, pkgutil, bot\n"
        "for found in pkgutil.walk_packages(bot.__path__, 'bot.'):\n"
        "    importlib.import_module(found.name)"
    )
    assert heavy_modules_after(every_bot_module) == ""


def test_the_worker_loop_loads_keras_only_with_its_first_job() -> None:
    """A worker comes up and registers in about a second, however long Keras takes to load."""
    assert heavy_modules_after("import trainer.worker.loop") == ""


def test_the_trainer_never_imports_telegram_or_the_bot() -> None:
    broken = {
        str(path.relative_to(ROOT)): roots & {"telegram", "bot"}
        for path in sources("trainer")
        if (roots := imported_roots(path)) & {"telegram", "bot"}
    }
    assert broken == {}


def test_only_storage_speaks_sql() -> None:
    found = {
        str(path.relative_to(ROOT)): sorted(roots & set(SQL))
        for path in sources("bot", "trainer", "trainbot")
        if (roots := imported_roots(path)) & set(SQL)
    }
    pending = {name: [root] for name, root in PENDING_SQL.items()}
    assert found == pending


def test_storage_imports_neither_the_bot_nor_the_trainer() -> None:
    broken = {
        str(path.relative_to(ROOT)): roots & {"bot", "trainer", "telegram", *HEAVY}
        for path in sources("storage")
        if (roots := imported_roots(path)) & {"bot", "trainer", "telegram", *HEAVY}
    }
    assert broken == {}
