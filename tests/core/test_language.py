"""The language a user is spoken to in: their app's, unless they picked one with /language (kept on
their account, across restarts); what reaches them later (a finished job) is in theirs too, and
sentences agree with the class word they gave."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from bot.core import texts
from bot.core.notifier import JobWatcher
from bot.core.replies import Reply, UserRef
from bot.core.studio import Studio
from db.models import Job, JobKind, JobState, LoraModel, LoraStatus
from i18n import Audience
from tests.core.conftest import actions_of, text_of, with_photos
from tests.support.languages import said

IVAN = UserRef("telegram", "601", "601", "Иван", "ru")


class Chat:
    platform = "telegram"

    def __init__(self) -> None:
        self.sent: list[Reply] = []

    async def send(self, chat_id: str, reply: Reply) -> str:
        self.sent.append(reply)
        return str(len(self.sent))

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        self.sent.append(reply)


async def test_a_russian_app_is_answered_in_russian_with_russian_plurals(studio: Studio) -> None:
    start = text_of(await studio.command(IVAN, "start"))
    assert start.startswith("👋") and "Иван" in start
    assert "3 кредита" in start  # CLDR's "few" form: 1 кредит, 3 кредита, 5 кредитов
    assert said(Audience("ru"), texts.CONSENT) in start and said(Audience("ru"), texts.CONSENT) != str(texts.CONSENT)
    english = text_of(await studio.command(UserRef("telegram", "602", "602", "Ann", "en-US"), "start"))
    assert "You have 3 credits" in english


async def test_an_app_language_the_bot_does_not_speak_gets_english(studio: Studio) -> None:
    assert "You have 3 credits" in text_of(await studio.command(UserRef("telegram", "603", "603", "Jan", "nl"), "start"))


async def test_a_language_picked_in_the_chat_wins_over_the_app_and_outlives_a_restart(
        make_studio: Callable[..., Studio]) -> None:
    studio = make_studio()
    picker = await studio.command(IVAN, "language")
    assert picker[0].text == said(Audience("ru"), texts.LANGUAGE_PICK, language="Русский")
    labels = [button.label for row in picker[0].buttons for button in row]
    assert {"English", "Deutsch", "Español", "Français", "Русский"} <= set(labels)
    assert any(label.startswith("Português") for label in labels)
    chosen = await studio.action(IVAN, "lang:de")
    assert text_of(chosen) == said(Audience("de"), texts.LANGUAGE_CHOSEN) != str(texts.LANGUAGE_CHOSEN)
    # the app still says Russian on every update: the pick wins, also in a new process
    assert text_of(await studio.command(IVAN, "help")) == said(Audience("de"), texts.HELP)
    again = make_studio()
    assert text_of(await again.command(IVAN, "help")) == said(Audience("de"), texts.HELP)
    # "my app's language" follows the app again
    await again.action(IVAN, "lang:")
    assert text_of(await again.command(IVAN, "help")) == said(Audience("ru"), texts.HELP)


async def test_a_job_that_finishes_after_a_change_of_language_speaks_the_new_one(studio: Studio) -> None:
    await with_photos(studio, 8, IVAN)
    training = await studio.action(IVAN, "class:woman")
    assert training[0].progress_of_job is not None
    await studio.action(IVAN, "lang:de")  # while the model learns
    async with studio.database.transaction() as session:
        job = await session.scalar(select(Job).where(Job.kind == JobKind.train))
        assert job is not None
        job.state, job.result, job.progress, job.reply_chat_id = JobState.succeeded, {}, 1.0, IVAN.chat_id
        lora = await session.scalar(select(LoraModel).where(LoraModel.job_id == job.id))
        assert lora is not None
        lora.status, lora.storage_key = LoraStatus.ready, f"users/{job.user_id}/loras/{lora.id}.safetensors"
        job_id = job.id
    chat = Chat()
    assert await JobWatcher(studio, chat).deliver(job_id)
    assert any(reply.text.startswith(said(Audience("de"), texts.MODEL_READY)) for reply in chat.sent), [r.text for r in chat.sent]
    assert "cat:" in " ".join(actions_of(chat.sent))


async def test_sentences_agree_with_the_class_word_the_user_gave(studio: Studio) -> None:
    """"¿Estás seguro/segura?": the confirmation of /delete, to a woman, a man and someone who
    preferred not to say, in Spanish."""
    women, men, people = (UserRef("telegram", uid, uid, "", "es") for uid in ("701", "702", "703"))
    for user, word in ((women, "woman"), (men, "man"), (people, "person")):
        await with_photos(studio, 8, user)
        await studio.action(user, f"class:{word}")
    asked = {word: text_of(await studio.command(user, "delete"))
             for user, word in ((women, "woman"), (men, "man"), (people, "person"))}
    assert asked["woman"] == said(Audience("es", "woman"), texts.DELETE_CONFIRM)
    assert asked["man"] == said(Audience("es", "man"), texts.DELETE_CONFIRM)
    assert asked["person"] == said(Audience("es", "person"), texts.DELETE_CONFIRM)
    assert len(set(asked.values())) == 3  # segura / seguro / a wording that needs neither


async def test_a_pick_made_in_another_process_is_heard_within_a_minute(
        make_studio: Callable[..., Studio], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The gallery (``studio web``) or a second bot process reads the same account: a language
    picked in one is what the other speaks once what it kept has aged."""
    clock = [1000.0]
    monkeypatch.setattr("bot.core.audiences.time.monotonic", lambda: clock[0])
    bot, gallery = make_studio(), make_studio()
    assert text_of(await gallery.command(IVAN, "help")) == said(Audience("ru"), texts.HELP)  # kept at t = 1000
    await bot.action(IVAN, "lang:fr")
    assert text_of(await bot.command(IVAN, "help")) == said(Audience("fr"), texts.HELP)  # where it was picked: at once
    clock[0] += 61
    assert text_of(await gallery.command(IVAN, "help")) == said(Audience("fr"), texts.HELP)
