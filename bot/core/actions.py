"""The button vocabulary: every action a button carries, how it is written and how it is read.

A button's data is ``verb`` or ``verb:argument``. Data already sitting in users' chats must keep
working after a deploy, so these strings are a contract: ``tests/core/test_actions.py`` holds the
ones older versions wrote. Telegram's callback data is at most 64 bytes; Discord's custom id
(``studio:`` + this) at most 100 characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.core.job_refs import job_ref
from db.models import Job


class Verb(StrEnum):
    tips = "tips"  # how to take good selfies
    consent = "consent"  # the user agrees to the terms (their own photos, 18+)
    styles = "styles"  # the style categories (``styles:back``: again, without the sample sheet)
    category = "cat"  # one category's styles
    browse = "browse"  # a category named as typed (Discord's /styles)
    named = "named"  # a style named as typed (Discord's /generate)
    style = "style"  # paint a style
    more = "more"  # more portraits like a job's
    files = "files"  # a job's full-resolution files
    train = "train"  # train the set (asks for the class word first)
    class_word = "class"  # train the set with this class word
    add_more = "add_more"  # the user will send more selfies
    delete = "delete"  # ``delete:yes:<account>`` erases everything; ``delete:no`` keeps it
    cancel = "cancel"  # stop one job
    buy = "buy"  # the packs on sale (``buy:<pack>`` on Discord's store buttons)
    language = "lang"  # ``lang:ru`` speaks Russian from now on; ``lang:`` follows the app's language


@dataclass(frozen=True, slots=True)
class Action:
    verb: Verb | None  # None: data no version of the bot wrote
    arg: str = ""


def parse(data: str) -> Action:
    word, _, arg = data.partition(":")
    try:
        return Action(Verb(word), arg)
    except ValueError:
        return Action(None, arg)


TIPS = Verb.tips.value
CONSENT = Verb.consent.value
STYLES = Verb.styles.value
STYLES_BACK = f"{Verb.styles}:back"
TRAIN = Verb.train.value
ADD_MORE = Verb.add_more.value
BUY = Verb.buy.value
DELETE_NO = f"{Verb.delete}:no"


def language(code: str) -> str:
    return f"{Verb.language}:{code}"


def category(category_id: str) -> str:
    return f"{Verb.category}:{category_id}"


def style(style_id: str) -> str:
    return f"{Verb.style}:{style_id}"


def more_like(job: Job) -> str:
    return f"{Verb.more}:{job_ref(job)}"


def files(job: Job) -> str:
    return f"{Verb.files}:{job_ref(job)}"


def cancel(job: Job) -> str:
    return f"{Verb.cancel}:{job_ref(job)}"


def train_as(class_word: str) -> str:
    return f"{Verb.class_word}:{class_word}"


def delete_yes(account_ref: int | str) -> str:
    """The account the confirmation deletes: one left over from before an earlier /delete must not
    delete the account made since."""
    return f"{Verb.delete}:yes:{account_ref}"


def buy_pack(pack_id: str) -> str:
    return f"{Verb.buy}:{pack_id}"


def browse(typed: str) -> str:
    return f"{Verb.browse}:{typed}"


def named(typed: str) -> str:
    return f"{Verb.named}:{typed}"
