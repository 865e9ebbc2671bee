"""`studio check PHOTO... [--json]`: the intake verdicts for people and scripts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from engine.intake.config import IntakeConfig
from engine.intake.photo import PhotoCheck, check_photo, rejected
from engine.intake.photoset import SetReport, check_set
from engine.intake.reasons import WARNING_MESSAGES, RejectCode

EXIT_ALL_ACCEPTED = 0
EXIT_SOME_REFUSED = 1
EXIT_USAGE = 2


def check_paths(paths: list[Path], config: IntakeConfig) -> tuple[list[PhotoCheck], SetReport]:
    checks = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            checks.append(rejected(RejectCode.unreadable, "", path.name))
            continue
        checks.append(check_photo(data, filename=path.name, config=config))
    return checks, check_set(checks, config)


def check_command(paths: list[Path], json_output: bool, config: IntakeConfig, out: TextIO | None = None) -> int:
    """Print one verdict per photo and the set's; exit 0 if every photo is accepted, 1 if not."""
    out = out or sys.stdout
    if not paths:
        print("Give at least one photo to check.", file=sys.stderr)
        return EXIT_USAGE
    checks, report = check_paths(paths, config)
    if json_output:
        for path, verdict in zip(paths, report.verdicts, strict=True):
            record = {"file": str(path), "ok": verdict.ok,
                      "code": str(verdict.code) if verdict.code else None, "message": verdict.message}
            print(json.dumps(record, ensure_ascii=False), file=out)
        print(json.dumps({"set": True, "accepted": report.accepted, "rejected": report.rejected,
                          "ready_to_train": report.ready_to_train}), file=out)
    else:
        for path, check, verdict in zip(paths, checks, report.verdicts, strict=True):
            mark = "✓" if verdict.ok else "✗"
            line = f"{mark} {verdict.number}. {path}"
            line += "" if verdict.ok else f" — {verdict.code}: {verdict.message}"
            print(line, file=out)
            if verdict.ok:
                for warning in check.warnings:
                    print(f"    note: {WARNING_MESSAGES[warning]}", file=out)
        print("", file=out)
        print(report.summary, file=out)
    return EXIT_ALL_ACCEPTED if report.rejected == 0 else EXIT_SOME_REFUSED
