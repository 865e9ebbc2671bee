"""The engine's layout: the torch pipeline knows nothing of the queue, storage or settings (only the
job runtime in ``engine/runtime`` joins them), and the conversation core does not reach for the
composition root. Every import counts, also those inside functions or under TYPE_CHECKING."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def offending_imports(files: list[Path], forbidden: tuple[str, ...], root: Path = ROOT) -> list[str]:
    return sorted(
        f"{path.relative_to(root)}: {module}"
        for path in files for module in set(imported_modules(path))
        if any(module == name or module.startswith(name + ".") for name in forbidden)
    )


def test_pipeline_modules_import_neither_db_nor_studio() -> None:
    pipeline = [p for p in (ROOT / "engine").rglob("*.py") if "runtime" not in p.relative_to(ROOT / "engine").parts]
    assert len(pipeline) > 30
    assert offending_imports(pipeline, ("db", "studio", "bot", "engine.runtime")) == []


def test_the_conversation_core_does_not_import_the_composition_root() -> None:
    core = list((ROOT / "bot" / "core").rglob("*.py"))
    assert offending_imports(core, ("studio.app", "studio.cli", "engine.runtime", "bot.telegram", "bot.discord")) == []


def test_the_finder_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from studio.settings import load_settings\n")
    assert offending_imports([module], ("studio",), tmp_path) == [
        "probe.py: studio.settings", "probe.py: studio.settings.load_settings"]
