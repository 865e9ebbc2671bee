"""Every sentence of privacy, retention and /delete: what /privacy says is kept and for how long,
the notice before an unused model goes, and the answers of an erasure. Part of the catalogue:
``bot.core.texts`` re-exports all of it."""

from __future__ import annotations

from i18n import Msg, Plural

DAY_COUNT = Plural("{n} day", "{n} days")  # how long things are kept
PRIVACY_SELFIES_DELETED = Msg(
    "Your selfies are deleted {days} after your model is ready; a face print of each photo I used (numbers, "
    "no picture) stays with your model to pick the portraits most like you.")
PRIVACY_SELFIES_KEPT = Msg("Your selfies stay until you delete them.")
PRIVACY_UNUSED_SELFIES = Msg(
    "Selfies you send but never train a model on are deleted {days} after the last one arrived.")
PRIVACY_MODELS_DELETED = Msg("Your model and portraits are deleted after {days} without use.")
PRIVACY_MODELS_DELETED_NOTICE = Msg(
    "Your model and portraits are deleted after {days} without use; I'll tell you {notice} before.")
PRIVACY_MODELS_KEPT = Msg("Your model and portraits stay until you delete them.")
PRIVACY = Msg(
    "🔒 Privacy\n"
    "I keep your selfies (cleaned of location and camera data), your personal model and the portraits I "
    "made for you, only to make your portraits. I never share them or use them to train anything else.\n"
    "• {selfies}\n"
    "• {models}\n"
    "• /delete erases your photos, model, portraits and account data at once, for good, also from the "
    "machines that painted them. I only remember that this account had its free credits, as a one-way code "
    "that can't be traced back to your account.\n"
    "• {messages}\n"
    "• In a server channel or a group, everyone there sees the progress and portraits I post for you; "
    "in a private chat with me, nobody else does.")
PRIVACY_MESSAGES_TAKEN_BACK = Msg("/delete also takes back the messages in which I sent you portraits.")
PRIVACY_MESSAGES_STAY = Msg("Portraits I already sent stay in this chat until you delete those messages.")
PRIVACY_PURCHASES = Msg(
    "• Purchases: a record of each payment (its charge id, pack and price, your account id) is kept "
    "for bookkeeping and refunds, also after /delete.")


def privacy(selfie_days: int, model_days: int, notice_days: int, *, selling: bool = False,
            unused_selfie_days: int = 0, takes_back_messages: bool = False) -> str:
    """/privacy, with the retention this install is configured for (0 days: kept until deleted);
    ``takes_back_messages``: /delete also removes the bot's messages with portraits (Discord)."""
    selfies = PRIVACY_SELFIES_DELETED.format(days=DAY_COUNT(selfie_days)) if selfie_days else str(PRIVACY_SELFIES_KEPT)
    if unused_selfie_days:
        selfies += " " + PRIVACY_UNUSED_SELFIES.format(days=DAY_COUNT(unused_selfie_days))
    if not model_days:
        models = str(PRIVACY_MODELS_KEPT)
    elif notice_days:
        models = PRIVACY_MODELS_DELETED_NOTICE.format(days=DAY_COUNT(model_days), notice=DAY_COUNT(notice_days))
    else:
        models = PRIVACY_MODELS_DELETED.format(days=DAY_COUNT(model_days))
    messages = PRIVACY_MESSAGES_TAKEN_BACK if takes_back_messages else PRIVACY_MESSAGES_STAY
    text = PRIVACY.format(selfies=selfies, models=models, messages=messages)
    return text + "\n" + PRIVACY_PURCHASES if selling else text


MODEL_EXPIRES = (
    Msg("⏳ Your personal model hasn't been used for a while: I'll delete it, with its portraits, on {date} "
    "(/privacy). Paint any style before then to keep it.")
)


DELETE_CONFIRM = (
    Msg("⚠️ This erases everything of yours: photos, your personal model, all portraits and your credits. "
    "It can't be undone. Are you sure?", gendered=True)
)
DELETED = Msg("🗑 Done — everything of yours is gone. Send /start whenever you want to begin again.")
DELETED_FILES_PENDING = (
    Msg("🗑 Your account, credits and history are deleted. Some of your files could not be removed this very "
    "moment; they are removed automatically within the hour, and none of them is used in the meantime. "
    "Send /start whenever you want to begin again.")
)
DELETED_MESSAGES_LEFT = (
    Msg("⚠️ I couldn't take {messages} with your portraits out of the chat: please delete them yourself "
    "(long-press or right-click the message → Delete).")
)
PHOTOS_NOT_KEPT = Msg("Your account was deleted while these photos arrived, so I didn't keep them. Send /start to begin again.")
DELETE_KEPT = Msg("Nothing was deleted.")
DELETED_JOB_STOPPED = Msg("🗑 Stopped: you deleted everything.", gendered=True)
DELETE_BUTTON_OLD = (
    Msg("That button is from before your last /delete, so I deleted nothing: everything you have sent since "
    "is still here. Send /delete if you want to delete it now.", gendered=True)
)
