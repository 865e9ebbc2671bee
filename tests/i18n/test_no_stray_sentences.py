"""No user-facing sentence is written outside the catalogues: a string in the bot's code that reads
like a sentence must be an ``i18n.Msg``/``Plural`` (and so translated), a log line, an exception's
text, or named here with the reason it is not said to a user."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("bot", "engine/intake")
NOT_SAID = {"debug", "info", "warning", "error", "exception", "critical", "log", "Msg", "Plural"}
WORD = re.compile(r"^[A-Za-z][a-z]+[,.!?:;]?$")

# (file, text): strings that read like sentences but no user reads them
NOT_FOR_USERS = {
    ("bot/console/app.py", "out of credits"),  # the demo spots a dead end in its own English run
    ("bot/console/app.py", "Something went wrong"),
    ("bot/console/app.py", "model is ready"),
    ("bot/console/app.py", "Here you go"),
    ("bot/discord/app.py", "the Discord bot"),  # the operator's log and health check
    ("bot/discord/app.py", "globally (may take a while to show up)"),
    ("bot/telegram/app.py", "the Telegram bot"),
    ("bot/telegram/render.py", "chat not found"),  # Telegram's error text, matched
    ("bot/telegram/payments.py", " is none of our invoices"),  # a log line's end
}


# files whose sentences only the operator reads (the command line stays English)
OPERATORS_FILES = {"engine/intake/cli.py", "engine/intake/summary.py"}


def reads_like_a_sentence(text: str) -> bool:
    return sum(bool(WORD.match(word)) for word in text.split()) >= 3


def raised_or_logged(node: ast.AST) -> bool:
    while (node := getattr(node, "parent", None)) is not None:
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in NOT_SAID:
                return True
    return False


def stray_sentences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child.parent = node  # type: ignore[attr-defined]
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            docstrings.add(id(node.value))  # a docstring, or a string standing alone as a comment
    where = str(path.relative_to(ROOT))
    return [f"{where}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
            and reads_like_a_sentence(node.value) and not raised_or_logged(node)
            and (where, node.value) not in NOT_FOR_USERS]


def test_every_sentence_of_the_bot_is_in_the_catalogues() -> None:
    files = [path for part in SCANNED for path in sorted((ROOT / part).rglob("*.py"))
             if str(path.relative_to(ROOT)) not in OPERATORS_FILES]
    stray = [line for path in files for line in stray_sentences(path)]
    assert not stray, "declare these as i18n.Msg (or name why no user reads them):\n" + "\n".join(stray)


def test_the_check_finds_a_new_sentence() -> None:
    module = ROOT / "bot" / "_stray_probe.py"  # inside the scanned tree, for the path rule
    try:
        module.write_text('REPLY = "Your portraits are on their way!"\nOK = Msg("Your model is ready!")\n')
        assert [line.split(": ", 1)[1] for line in stray_sentences(module)] == ["'Your portraits are on their way!'"]
    finally:
        module.unlink()
