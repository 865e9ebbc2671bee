"""Platform-neutral replies: what the conversation core says, before any adapter renders it.

Telegram renders buttons as an inline keyboard and an album as a media group; Discord as a view
and attachments; the console prints and writes files.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_ACTION_BYTES = 64  # Telegram's callback_data limit; Discord's custom_id allows 100


#: actions that answer their whole question (a confirm, a choice): once one is pressed, the
#: message's buttons are taken away, so "Yes, delete" can't be pressed twice
ONE_SHOT_VERBS = frozenset({"consent", "delete", "class", "lang"})


def is_one_shot(action: str) -> bool:
    return action.partition(":")[0] in ONE_SHOT_VERBS


def _said(reply: object, *fields: str) -> None:
    """A catalogue sentence (``i18n.Msg``) given as a field becomes its text in the language of the
    audience the reply is made for, so that it reads the same wherever it is sent from."""
    for name in fields:
        value = getattr(reply, name)
        if not isinstance(value, str):
            object.__setattr__(reply, name, str(value))


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action: str
    """What pressing it does, e.g. ``train``, ``style:linkedin-headshot``, ``more:42``."""
    sku_id: int | None = None
    """A store item this button buys where the platform sells through its own store (Discord's
    premium buttons show the item and its price themselves); elsewhere it is pressed like any other."""
    url: str = ""
    """A link the button opens instead of coming back as an action (``action`` is then unused)."""
    mini_app: str = ""
    """Where the platform opens web apps inside the chat (Telegram's Mini Apps, in a private chat):
    the app this button opens there; elsewhere the button opens ``url``."""

    def __post_init__(self) -> None:
        _said(self, "label")
        if len(self.action.encode()) > MAX_ACTION_BYTES:
            raise ValueError(f"button action too long: {self.action!r}")


@dataclass(frozen=True, slots=True)
class Picture:
    """An image to look at (album item); adapters may recompress it."""

    data: bytes
    filename: str
    caption: str = ""

    def __post_init__(self) -> None:
        _said(self, 'caption')


@dataclass(frozen=True, slots=True)
class Document:
    """A file to keep: sent without recompression."""

    data: bytes
    filename: str
    caption: str = ""

    def __post_init__(self) -> None:
        _said(self, 'caption')


@dataclass(frozen=True, slots=True)
class Invoice:
    """A request for payment the user pays in the chat (Telegram: an invoice in Stars)."""

    title: str
    description: str
    payload: str
    """Comes back with the pre-checkout query and the payment (bot/core/shop.py)."""
    currency: str
    amount: int
    label: str

    def __post_init__(self) -> None:
        _said(self, 'title', 'description', 'label')


@dataclass(frozen=True, slots=True)
class Reply:
    text: str = ""
    buttons: tuple[tuple[Button, ...], ...] = ()
    album: tuple[Picture, ...] = ()
    documents: tuple[Document, ...] = ()
    private: bool = False
    """Only for the user who asked (Discord: ephemeral). Telegram chats with a bot are private anyway."""
    progress_of_job: int | None = None
    """This message shows a job's progress: the adapter remembers its id so it can be edited."""
    typing: bool = False
    """More is on its way: the chat shows "typing…" after this message, until the next one arrives."""
    invoice: Invoice | None = None
    """Sent after the text: a pack to pay for, where the platform takes payments in the chat."""
    addressee: str = ""
    """The platform user id of whose job this message is about: where others read the chat too (a
    Discord server channel) the adapter names them; in their own chat it changes nothing."""
    shared_text: str = ""
    """The text where others read the chat too (a Discord server channel), without what is only the
    user's business (their balance); empty: ``text`` everywhere."""
    illustration: Picture | None = None
    """A picture above the text that the message can do without (the style picker's sample sheet):
    where it cannot be sent, the text and buttons still are. Not the user's: /delete leaves it."""

    def __post_init__(self) -> None:
        _said(self, 'text', 'shared_text')


@dataclass(frozen=True, slots=True)
class UserRef:
    """Who is talking, on which platform, in which chat."""

    platform: str
    user_id: str
    chat_id: str
    display_name: str = ""
    language: str = ""


@dataclass(slots=True)
class IncomingFile:
    """A photo or document the user sent, already downloaded by the adapter."""

    data: bytes
    filename: str = ""
    sent_as_document: bool = False
