"""What the gallery's pages say (web/): every sentence and label a visitor reads, declared once in
English and said in the visitor's language when a page is rendered (``web.app`` renders each page
inside ``i18n.speaking``). A command (``/gallery``) in a sentence is shown as code; a ``{name}`` is
filled in by the page."""

from __future__ import annotations

from i18n import Msg, Plural, percent

BRAND = Msg("Portrait Studio", same=True, note="the product's name, in every page's title and header")

# ---------------------------------------------------------------- every page
STYLES = Msg("Styles", note="the gallery's page of styles to paint: a link in the page header, and its title")
MY_PORTRAITS = Msg("My portraits", note="the gallery's page of the user's own portraits: a link in the page header, "
                                        "and its title")

# ---------------------------------------------------------------- the front door (/)
YOUR_GALLERY = Msg("Your gallery")
HOW_TO_OPEN = Msg("Send /gallery to the bot for your private link, or open the gallery from the bot's menu in Telegram.")

# ---------------------------------------------------------------- the Telegram Mini App's door (/app)
OPENING = Msg("Opening your gallery…")
OPEN_FROM_TELEGRAM = Msg("Open this page from the bot in Telegram.")
NOT_OPENED = Msg("This gallery could not be opened.")
UNREACHABLE = Msg("The gallery could not be reached. Try again in a moment.")
NO_MINI_APP = Msg("The gallery can't be opened from Telegram here. Send /gallery to the bot for your private link.")
NOT_VOUCHED = Msg("Telegram did not confirm who you are. Close the gallery and open it again from the bot.")
START_FIRST = Msg("Open the chat with the bot and tap Start first.")

# ---------------------------------------------------------------- a link that does not open
LINK_NOT_VALID = Msg("Link not valid", note="the page's title")
NOT_HERE = Msg("Not here")
NOTHING_HERE = Msg("There is nothing at this address.")
LINK_GONE = Msg("This link no longer works")
MAY_HAVE_EXPIRED = Msg("It may have expired, or its account was deleted.")
FRESH_LINK = Msg("Send /gallery to the bot for a fresh link.")
SOMETHING_WRONG = Msg("Something went wrong; try again in a moment.")

# ---------------------------------------------------------------- the styles
QUEUED = Msg("Queued! Your portraits arrive in the chat, and here under “{portraits}”.",
             note="{portraits}: the name of the “My portraits” page")
CREDITS = Msg("Credits: {credits}", note="{credits}: the user's balance, a number")
MODEL = Msg("Model: {state}", note="the user's personal model; {state}: ready, training…, training stopped or none yet")
MODEL_READY = Msg("ready", note="the personal model's state, after “Model:”")
MODEL_TRAINING = Msg("training…", note="the personal model's state, after “Model:”")
MODEL_FAILED = Msg("training stopped", note="the personal model's state, after “Model:”")
MODEL_NONE = Msg("none yet", note="the personal model's state, after “Model:”: the user has no model")
LIKENESS = Msg("likeness {likeness}", note="how much the portraits look like the user; {likeness}: a percentage")
WORKING_ON = Plural("Working on {n} job", "Working on {n} jobs")
SAMPLE = Msg("{style} sample", note="a sample portrait's description for screen readers; {style}: the style's title")
PAINT_THIS = Msg("Paint this", note="the button that paints new portraits in this style")
BACK_TO_STYLES = Msg("Back to the styles")

# ---------------------------------------------------------------- the user's portraits
DOWNLOAD_ALL = Msg("Download all ({count}) as a ZIP", note="{count}: how many portraits")
PORTRAIT = Msg("{style} portrait", note="a portrait's description for screen readers; {style}: the style's title")
FILE = Msg("file", note="the download link of a portrait that has no aspect ratio (the others are named 4:5, 1:1, …)")
NO_PORTRAITS = Msg("No portraits yet. Pick a style and tap “{paint}”.", note="{paint}: the “Paint this” button")

MODEL_STATES = {"ready": MODEL_READY, "training": MODEL_TRAINING, "failed": MODEL_FAILED}


def model_state(model: str, likeness: int | None) -> str:
    """The model's state as the styles page shows it after "Model:" (a ready one with its likeness)."""
    state = str(MODEL_STATES.get(model, MODEL_NONE))
    if model == "ready" and likeness is not None:
        state += " · " + LIKENESS.format(likeness=percent(likeness))
    return state
BUY_IN_CHAT = Msg("To buy credits, send /buy in the chat with the bot.")
