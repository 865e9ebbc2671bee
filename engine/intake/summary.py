"""The one message a user gets after a batch of photos."""

from __future__ import annotations

from collections.abc import Sequence

from engine.intake.config import IntakeConfig
from engine.intake.reasons import GENERAL_TIP, TIPS, label_for
from engine.intake.verdict import PhotoVerdict

MAX_TIPS = 3


def summarise(
    verdicts: Sequence[PhotoVerdict], *, accepted: int, ready: bool, mixed: bool, config: IntakeConfig
) -> str:
    """ "7 of 10 accepted — photo 3: more than one face; photo 8: blurry." plus what would help."""
    total = len(verdicts)
    problems = []
    for v in verdicts:
        if v.ok or v.code is None:
            continue
        label = label_for(v.code)
        if v.duplicate_of is not None:
            label = f"same as photo {v.duplicate_of}"
        problems.append(f"photo {v.number}: {label}")
    head = f"{accepted} of {total} accepted"
    lines = [f"{head} — {'; '.join(problems)}." if problems else f"{head}."]

    if mixed:
        lines.append("These photos seem to show more than one person. Please send photos of only yourself.")
    if ready:
        lines.append("You're ready to train!")
    else:
        more = max(0, config.min_photos - accepted)
        if more:
            lines.append(f"Send {more} more good photo{'s' if more != 1 else ''} "
                         f"(you need at least {config.min_photos}).")

    tips: list[str] = []
    for v in verdicts:
        said = TIPS.get(v.code) if v.code is not None and not v.ok else None
        tip = said.source if said is not None else None  # the operator's summary: English
        if tip and tip not in tips:
            tips.append(tip)
    if tips:
        lines.append("What would help: " + " ".join(tips[:MAX_TIPS]))
    if not ready:
        lines.append(GENERAL_TIP.source)
    return "\n".join(lines)
