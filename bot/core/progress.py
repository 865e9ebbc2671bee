"""A job's progress message: its title, a bar, the time left or its place in the queue, and a Cancel
button that stops this job only."""

from __future__ import annotations

from bot.core import actions, texts
from bot.core.replies import Button, Reply
from i18n import percent
from db.models import Job, JobKind, JobState

#: the stage each kind of job spends most of its time in: its progress title already names it
MAIN_STAGE = {JobKind.train: "training", JobKind.generate: "generating"}


def progress_reply(job: Job, title: str, position: int | None = None) -> Reply:
    return Reply(progress_text(job, title, position), ((Button(texts.BUTTON_CANCEL, actions.cancel(job)),),),
                 progress_of_job=job.id, typing=True)


def progress_text(job: Job, title: str, position: int | None = None) -> str:
    line = f"{title}  {texts.progress_bar(job.progress)} {percent(round(job.progress * 100))}"
    if job.state == JobState.queued and position:
        line += f" · {texts.QUEUE_POSITION.format(position=position)}"
    elif eta := texts.duration(job.eta_seconds):
        line += " · " + texts.TIME_LEFT.format(time=eta)
    stage = texts.STAGE_NAMES.get(job.stage)
    if not stage or job.stage in {"queued", "done"} or MAIN_STAGE.get(job.kind) == job.stage:
        return line  # the title already says it ("🧠 Learning your face…" while training)
    return f"{line}\n{stage}…"
