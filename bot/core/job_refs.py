"""How a button names a job: its id and the first characters of its correlation id. SQLite hands
a deleted job's id to the next job (after /delete removed a user's last rows), and a button on an
old message must not reach that new job. Buttons from before the check carry the id alone."""

from __future__ import annotations

from db.models import Job

CHECK_CHARS = 6


def job_ref(job: Job) -> str:
    return f"{job.id}-{job.correlation_id[:CHECK_CHARS]}"


MAX_ID = 2**31 - 1  # PostgreSQL's integer; SQLite's is larger, a button's is never more


def parse_job_ref(arg: str) -> tuple[int, str] | None:
    """(job id, check) from a button's argument; None when it names no job (also malformed or
    forged data: ``files:99999999999999999999999`` is an unknown button, not a database error)."""
    number, _, check = arg.partition("-")
    if not (number.isascii() and number.isdigit() and len(number) <= 10) or int(number) > MAX_ID:
        return None
    return int(number), check


def names(job: Job, check: str) -> bool:
    """Whether a button's check fits this job (an empty one, from an older button, always does)."""
    return job.correlation_id.startswith(check)
