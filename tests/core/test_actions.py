"""The button vocabulary is a contract with every chat: data that older versions put on buttons,
still sitting in users' chats, reaches the same use case after a deploy."""

from __future__ import annotations

import pytest

from bot.core import actions
from bot.core.actions import Action, Verb
from bot.core.studio import ACTIONS
from db.models import Job

# What the versions before the action table wrote (bot/core/studio.py's `_action` chain, delivery.py, ...)
WRITTEN_BEFORE = {
    "tips": Action(Verb.tips), "consent": Action(Verb.consent), "styles": Action(Verb.styles),
    "styles:back": Action(Verb.styles, "back"), "cat:business": Action(Verb.category, "business"),
    "browse:Dating & social": Action(Verb.browse, "Dating & social"),
    "named:LinkedIn headshot": Action(Verb.named, "LinkedIn headshot"),
    "style:linkedin-headshot": Action(Verb.style, "linkedin-headshot"),
    "more:42-1a2b3c": Action(Verb.more, "42-1a2b3c"), "more:42": Action(Verb.more, "42"),
    "files:42-1a2b3c": Action(Verb.files, "42-1a2b3c"), "files:42": Action(Verb.files, "42"),
    "train": Action(Verb.train), "class:woman": Action(Verb.class_word, "woman"), "add_more": Action(Verb.add_more),
    "delete:yes:7": Action(Verb.delete, "yes:7"), "delete:yes": Action(Verb.delete, "yes"),
    "delete:no": Action(Verb.delete, "no"), "cancel:42-1a2b3c": Action(Verb.cancel, "42-1a2b3c"),
    "buy": Action(Verb.buy), "buy:small": Action(Verb.buy, "small"),
}


@pytest.mark.parametrize("data", sorted(WRITTEN_BEFORE))
def test_a_button_written_before_is_read_as_it_was_meant(data: str) -> None:
    assert actions.parse(data) == WRITTEN_BEFORE[data]


def test_every_verb_has_a_use_case() -> None:
    assert set(ACTIONS) == set(Verb)


def test_data_no_version_wrote_is_no_verb() -> None:
    assert actions.parse("sneaky:payload").verb is None
    assert actions.parse("").verb is None


def test_the_makers_write_what_older_versions_wrote() -> None:
    job = Job(id=42, correlation_id="1a2b3c" + "0" * 26)
    made = [actions.TIPS, actions.CONSENT, actions.STYLES, actions.STYLES_BACK, actions.category("business"),
            actions.style("linkedin-headshot"), actions.more_like(job), actions.files(job), actions.TRAIN,
            actions.train_as("woman"), actions.ADD_MORE, actions.delete_yes(7), actions.DELETE_NO, actions.cancel(job),
            actions.BUY, actions.buy_pack("small"), actions.browse("Dating & social"), actions.named("LinkedIn headshot")]
    assert set(made) <= set(WRITTEN_BEFORE)


def test_the_longest_button_fits_telegrams_64_bytes() -> None:
    job = Job(id=2**31 - 1, correlation_id="f" * 32)
    for data in (actions.more_like(job), actions.files(job), actions.cancel(job), actions.delete_yes(2**31 - 1)):
        assert len(data.encode()) <= 64
