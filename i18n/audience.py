"""Who the bot is speaking to right now: their language and the grammatical gender their sentences
agree with. Set where a turn starts (a user's update, a job's owner, a notice's recipient)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

#: the class words a user gives their photos, which are also the genders sentences agree with
GENDERS = ("man", "woman", "person")


@dataclass(frozen=True, slots=True)
class Audience:
    language: str = "en"
    gender: str = "person"
    """"man", "woman" or "person" (neutral wording): the class word the user gave their photos."""


_current: ContextVar[Audience] = ContextVar("audience", default=Audience())


def current() -> Audience:
    return _current.get()


@contextmanager
def speaking(audience: Audience) -> Iterator[Audience]:
    token = _current.set(audience)
    try:
        yield audience
    finally:
        _current.reset(token)
