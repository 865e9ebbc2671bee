"""The project's layout as allow-lists: each part names what it may import of the project, so a new
upward import fails without anyone naming it. Every import counts, also those inside functions or
under TYPE_CHECKING."""

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


PROJECT = ("bot", "config", "db", "engine", "i18n", "studio", "styles", "telemetry", "web")

# What each part of the project MAY import of the project (anything else is a layer above it, or a
# sibling it must not know). Third-party packages are not the rule's business.
ALLOWED: dict[str, frozenset[str]] = {
    # settings, redaction and logging set-up: a leaf that imports nothing of the project
    "config": frozenset({"config"}),
    # metric definitions and the /metrics, /livez, /readyz server: a leaf like config (its checks are
    # callables handed to it), so that every part that counts something may import it
    "telemetry": frozenset({"telemetry"}),
    # the catalogues and the audience a sentence is said to: a leaf, so that every part that declares
    # a sentence (the core, the adapters, intake's refusals, the styles' titles) may import it
    "i18n": frozenset({"i18n"}),
    "db": frozenset({"db", "config", "telemetry"}),
    # the torch pipeline: no queue, storage, settings or front end
    "engine": frozenset({"engine", "i18n"}),
    # the job runtime joins the pipeline to the queue and storage; never the composition root or a bot
    "engine.runtime": frozenset({"engine", "engine.runtime", "db", "config", "telemetry"}),
    "styles": frozenset({"styles", "engine", "i18n"}),  # prompt_fit counts CLIP tokens (torch-free)
    # the conversation core: platform-neutral; never the composition root, the runtime or an adapter
    "bot.core": frozenset({"i18n", "bot.core", "db", "engine", "styles", "config", "telemetry"}),
    # the adapters: the core, never each other
    "bot.telegram": frozenset({"i18n", "bot.telegram", "bot.core", "db", "engine", "config", "telemetry"}),
    "bot.discord": frozenset({"i18n", "bot.discord", "bot.core", "db", "engine", "config", "telemetry"}),
    "bot.console": frozenset({"i18n", "bot.console", "bot.core", "db", "engine", "config"}),
    # the gallery (Mini App and private links): a front end of its own over the core (its "Paint this"
    # is the chat's style button, Studio.action); never an adapter, the runtime or the composition root
    "web": frozenset({"i18n", "web", "bot.core", "db", "styles", "config", "telemetry"}),
    # the composition root (settings to processes, the `studio` command) may import everything
    "studio": frozenset(PROJECT) | {"engine.runtime", "bot.core", "bot.telegram", "bot.discord", "bot.console"},
}


def part_of(module: str) -> str | None:
    """The part a module belongs to (a key of ALLOWED), or None for anything not the project's."""
    parts = module.split(".")
    if parts[0] not in PROJECT:
        return None
    if parts[0] == "engine" and len(parts) > 1 and parts[1] == "runtime":
        return "engine.runtime"
    if parts[0] == "bot":
        return ".".join(parts[:2]) if len(parts) > 1 else "bot"
    return parts[0]


def module_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def project_modules() -> list[Path]:
    return [p for name in PROJECT for p in (ROOT / name).rglob("*.py")]


def test_every_part_imports_only_what_it_may() -> None:
    offending = []
    for path in project_modules():
        part = part_of(module_of(path))
        if part == "bot":  # bot/__init__.py
            continue
        assert part in ALLOWED, f"{path.relative_to(ROOT)} belongs to no known part"
        for module in set(imported_modules(path)):
            target = part_of(module)
            if target is not None and target not in ALLOWED[part] and target != "bot":
                offending.append(f"{path.relative_to(ROOT)} ({part}) imports {module}")
    assert sorted(offending) == []


def test_the_rule_sees_an_upward_import(tmp_path: Path) -> None:
    """A new module of db that reaches for the core is refused without anyone naming it."""
    assert "bot.core" not in ALLOWED[part_of("db.new_module")]  # type: ignore[index]
    assert part_of("engine.runtime.worker") == "engine.runtime" and part_of("engine.intake.decode") == "engine"
    assert part_of("numpy") is None


def test_the_pipeline_is_most_of_the_engine() -> None:
    pipeline = [p for p in (ROOT / "engine").rglob("*.py") if "runtime" not in p.relative_to(ROOT / "engine").parts]
    assert len(pipeline) > 30


def test_two_modules_never_import_each_other() -> None:
    """An import circle of two (a knows b, b knows a) is two modules that are one, or one in the wrong place."""
    graph: dict[str, set[str]] = {}
    for path in project_modules():
        graph[module_of(path)] = {m for m in imported_modules(path) if part_of(m) is not None}
    circles = sorted(f"{a} <-> {b}" for a, deps in graph.items() for b in deps if b in graph and a < b
                     and a in graph[b])
    assert circles == []


def test_the_finder_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from studio.app import run_main\n")
    assert offending_imports([module], ("studio",), tmp_path) == ["probe.py: studio.app", "probe.py: studio.app.run_main"]
