"""What the core may ask of a platform's front end, in one typed object per platform.

A front end hands its seam to the core (``Studio.connect``) when it starts; what a platform can't
do stays None, and the core does without (e.g. Telegram can't take back a DM with a bot token's
API the way Discord can; only front ends that sell can refund)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.core.replies import Reply, UserRef
from bot.core.shop import GiveBack

Edit = Callable[[str, str, Reply], Awaitable[None]]
"""edit(chat id, message id, reply): rewrite a message the bot posted (a progress message)."""
Retract = Callable[[str, str], Awaitable[None]]
"""retract(chat id, message id): delete a message the bot posted."""
RetractUnrecorded = Callable[[str], Awaitable[None]]
"""retract_unrecorded(platform user id): take back what the front end sent the user that no row
records (Discord: messages sent through an interaction token, while the token lives)."""
Post = Callable[[UserRef, list[Reply]], Awaitable[None]]
"""post(user, replies): send replies to the user's chat outside a turn of theirs there (a style painted
from the gallery: its progress message), a job's progress message remembered like any other."""


@dataclass
class PlatformSeam:
    platform: str
    edit: Edit | None = None
    retract: Retract | None = None
    retract_unrecorded: RetractUnrecorded | None = None
    refund: GiveBack | None = None
    post: Post | None = None
    #: every request must get an answer, a refusal past the rate limit included (Discord: an
    #: interaction left unanswered shows "thinking…", then vanishes)
    answers_every_request: bool = False
