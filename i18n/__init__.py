"""What the bot says, in the language of the person it says it to: gettext catalogues read through
Babel (``locales/<code>.po``; English is the source and needs none). A sentence is a ``Msg`` (or a
``Plural``) declared once, in English, where it belongs; it becomes text in the language of the
current ``Audience`` when it is used. Nothing here imports the project; Babel is imported only when
a sentence is said, so the GPU worker (which says nothing) does without it."""

from i18n.audience import Audience, current, speaking
from i18n.formats import date_text, number, percent
from i18n.languages import DEFAULT, language_name, languages, pick
from i18n.message import Msg, Plural, registry

__all__ = ["DEFAULT", "Audience", "Msg", "Plural", "current", "date_text", "language_name", "languages", "number",
           "percent", "pick", "registry", "speaking"]
