"""Every sentence the bot says, in one place. Short, friendly, scannable; every refusal says why
and what to do next. (Photo verdict sentences live with the checks in engine/intake/reasons.py.)"""

from __future__ import annotations

PROGRESS_CELLS = 10


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def progress_bar(fraction: float) -> str:
    filled = max(0, min(PROGRESS_CELLS, round(fraction * PROGRESS_CELLS)))
    return "▰" * filled + "▱" * (PROGRESS_CELLS - filled)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return "less than a minute"
    minutes = round(seconds / 60)
    return "about 1 min" if minutes <= 1 else f"about {minutes} min"


def welcome(name: str, credits: int, min_photos: int, max_photos: int) -> str:
    hello = f"👋 Hi {name}!" if name else "👋 Hi!"
    return (
        f"{hello} I turn your selfies into studio-quality portraits: LinkedIn headshots, dating-profile "
        "shots, gym photos, Ghibli-style art and more.\n\n"
        f"1️⃣ Send me {min_photos}–{max_photos} selfies (as files for the best quality)\n"
        "2️⃣ I learn your face (a few minutes)\n"
        "3️⃣ Pick styles and get your portraits right here.\n\n"
        f"You have {plural(credits, 'credit')}. Your photos are private: /privacy · /delete anytime."
    )


SELFIE_TIPS = (
    "📸 How to take good selfies\n"
    "• Just you in the photo, face clearly visible\n"
    "• Different angles, expressions and places\n"
    "• Soft daylight; no sunglasses, hats or heavy filters\n"
    "• Send them as files rather than compressed photos, so they keep full quality\n"
    "• Close-ups and a few half-body shots work best"
)

UNKNOWN_COMMAND = "I don't know /{name} 🤔"
PRIVATE_CHAT_ONLY = ("🔒 Your selfies and portraits are yours alone, so I only work in a private chat. "
                     "Tap below to open ours — everything starts there.")
PRIVATE_CHAT_ONLY_ALERT = "🔒 I only work in a private chat with you: message me directly to continue."
BUTTON_OPEN_PRIVATE_CHAT = "💬 Open a private chat"
HELP = (
    "Here's what I can do:\n"
    "/start — how it works\n"
    "/styles — pick a style for new portraits\n"
    "/status — your photos, model and jobs\n"
    "/credits — your balance\n"
    "/cancel — stop the job that's running\n"
    "/delete — erase everything of yours\n"
    "/privacy — what I keep and for how long\n\n"
    "Send photos any time to add them to your set."
)

CONSENT = (
    "Before your first photo, please confirm two things:\n"
    "• the photos you send are of you (not of someone else)\n"
    "• you are 18 or older\n"
    "Your photos are used only to make your portraits: /privacy"
)
CONSENT_FIRST = "I can't take photos yet — please confirm first:"
BUTTON_CONSENT = "✅ I confirm"
CONSENT_THANKS = "Thank you! Now send me {min_photos}–{max_photos} selfies (as files for the best quality)."
CONSENT_ALREADY = "You've already confirmed — send your selfies whenever you're ready."

def privacy(selfie_days: int, model_days: int, notice_days: int, *, selling: bool = False,
            unused_selfie_days: int = 0, takes_back_messages: bool = False) -> str:
    """/privacy, with the retention this install is configured for (0 days: kept until deleted);
    ``takes_back_messages``: /delete also removes the bot's messages with portraits (Discord)."""
    selfies = (f"Your selfies are deleted {plural(selfie_days, 'day')} after your model is ready; a face print "
               "of each photo I used (numbers, no picture) stays with your model to pick the portraits most like you."
               if selfie_days else "Your selfies stay until you delete them.")
    if unused_selfie_days:
        selfies += (f" Selfies you send but never train a model on are deleted {plural(unused_selfie_days, 'day')} "
                    "after the last one arrived.")
    models = (f"Your model and portraits are deleted after {plural(model_days, 'day')} without use"
              + (f"; I'll tell you {plural(notice_days, 'day')} before." if notice_days else ".")
              if model_days else "Your model and portraits stay until you delete them.")
    return (
        "🔒 Privacy\n"
        "I keep your selfies (cleaned of location and camera data), your personal model and the portraits I "
        "made for you, only to make your portraits. I never share them or use them to train anything else.\n"
        f"• {selfies}\n"
        f"• {models}\n"
        "• /delete erases your photos, model, portraits and account data at once, for good, also from the "
        "machines that painted them. I only remember that this account had its free credits, as a code "
        "that can't be turned back into your account.\n"
        + ("• /delete also takes back the messages in which I sent you portraits." if takes_back_messages else
           "• Portraits I already sent stay in this chat until you delete those messages.")
        + "\n• In a server channel or a group, everyone there sees the progress and portraits I post for you; "
        "in a private chat with me, nobody else does."
        + ("\n• Purchases: a record of each payment (its charge id, pack and price, your account id) is kept "
           "for the accounts and for refunds, also after /delete." if selling else "")
    )


MODEL_EXPIRES = (
    "⏳ Your personal model hasn't been used for a while: I'll delete it, with its portraits, on {date} "
    "(/privacy). Paint any style before then to keep it."
)

PHOTOS_RECEIVED = "📥 Got {count} photos — checking them all…"
UPLOAD_WINDOW_EXPIRED = ("⌛ That upload window has expired, so the {photos} in it didn't reach me. Please open "
                         "/upload again and pick them once more.")
NOT_A_PHOTO_TEXT = "I was expecting photos 🙂 Send me selfies, or use /help to see what I can do."
STICKER = "Cute sticker! 😄 But I need real photos of you — send selfies as photos or files."
VIDEO = "I can't learn from videos. Please send still photos of yourself instead."
FILE_TOO_BIG = "This file is larger than the {limit_mb} MB I can download. Please send a smaller copy of the photo."
ANIMATION = "That's an animation. Please send still photos of yourself."
AUDIO = "I can't use audio or voice messages. Please send selfies."

# The answer to a batch of photos
BATCH_ONE_GOOD = "Got your photo — looks great ✅"
BATCH_ONE_REFUSED = "Got your photo, but I can't use it:"
BATCH_NONE_GOOD = "Got {count} photos, but I can't use them:"
REFUSED_NAMED = "✖ {name}: {reason}"
REFUSED_NUMBERED = "✖ Photo {number}: {reason}"
REFUSED_ONE = "✖ {reason}"
MIXED_PEOPLE = "These photos seem to show more than one person. Please send photos of only yourself."
SET_READY_COUNT = "You have {accepted} good photos. "
PHOTOS_SO_FAR = "{accepted} of {min_photos} good photos so far — send {missing} more."
TRAIN_MINUTES_ESTIMATE = "about 5 minutes"
UNKNOWN_STYLE_TITLE = "Portrait"  # a job of a style no longer in the catalogue


def batch_good(count: int, good: int) -> str:
    """The head of the answer to several photos, some good."""
    looks = "looks" if good == 1 else "look"
    return f"Got {count} photos — {good} {looks} great ✅"


SET_READY = "You're ready to train! It takes {minutes} and {cost}."
CHOOSE_CLASS = "Who is in the photos? This helps me paint you right."
CLASS_WORDS = {"man": "👨 A man", "woman": "👩 A woman", "person": "🧑 Prefer not to say"}

TRAIN_QUEUED = "🧠 Learning your face…"
TRAIN_ALREADY = "I'm already learning your face — I'll tell you as soon as it's done."
TRAIN_NOT_READY = "I need {missing} more good photos before I can learn your face. Send a few more selfies!"
MODEL_READY = "✨ Your model is ready! Pick a style:"
MODEL_LIKENESS = ("✨ Your model is ready! Its test portraits look {likeness} % like you "
                  "(100 % = as close as your own photos are to each other). Pick a style:")
STATUS_LIKENESS = " · likeness {likeness} %"
MODEL_TEST_LIKENESS = "Its test portraits look {likeness} % like you (100 % = as close as your own photos are to each other)."
NO_MODEL = "First I need to learn your face: send {min_photos}+ selfies and tap “Train my model”."
MODEL_TRAINING = "Your model is still training — I'll show you the styles as soon as it's ready."

PREVIEW_CAPTION = "⚡ Quick preview · {title} · {index} of {count}"
PREVIEW_DELIVERED = (
    "⚡ Here's a quick preview of you, painted from your selfies in seconds — free. It isn't your personal "
    "model yet: the portraits it paints will look much more like you."
)
PROGRESS_BELOW = "{title} — progress below ⬇️"
MODEL_READY_AFTER_PREVIEW = (
    "✨ Your model is ready! Its portraits will look much more like you than the quick preview. "
    "Paint {title} with it in one tap, or pick another style:"
)
BUTTON_PAINT_WITH_MODEL = "✨ {title} with my model"

PICK_STYLE = "🎨 Pick a style:"
PICK_IN_CATEGORY = "{emoji} {title} — pick one:"
GENERATE_QUEUED = "🎨 Painting {count} {title} portraits…"
UNKNOWN_STYLE = "I don't know that style any more. Here are the current ones:"
UNKNOWN_STYLE_NAMED = "I don't know a style called “{name}”. Here are the styles — pick a category:"
UNKNOWN_CATEGORY_NAMED = "I don't have a category called “{name}”. Here they are — pick one:"

OUT_OF_CREDITS = (
    "You're out of credits: this needs {needed} and you have {balance}. "
    "Ask an admin for more credits — {kept}."
)
OUT_OF_CREDITS_BUY = (
    "You're out of credits: this needs {needed} and you have {balance}. "
    "Buy more below — {kept}."
)
QUEUE_FULL = "You already have {limit} jobs waiting. I'll take new requests as soon as one finishes."
RATE_LIMITED = ("Whoa, that's fast! Please wait {seconds} s and try again: what you send before then isn't "
                "answered.")
RATE_LIMITED_AGAIN = "Still too fast — try again in {seconds} s."
PHOTOS_TOO_FAST = ("That's a lot of photos at once, so I didn't take the last ones. Please send the photos I "
                   "haven't answered again in {seconds} s.")

CREDITS = "💳 You have {credits}. A personal model costs {train_cost}; each style batch costs {generate_cost}."

STATUS_HEADER = "📋 Your status"
STATUS_PHOTOS = "📸 Photos: {accepted} good of {total} sent (need {min_photos})"
STATUS_NEXT_PHOTOS = "📸 New photos for a next model: {accepted} good of {total} sent (need {min_photos})"
NEXT_MODEL_PHOTOS = ("These start a new set, for a next model: {accepted} of {min_photos} good photos so far (send "
                     "{missing} more to train one). Your current model keeps the photos it learnt from.")
STATUS_MODEL = {"none": "🧠 Model: not trained yet", "training": "🧠 Model: training…",
                "ready": "🧠 Model: ready ✅", "failed": "🧠 Model: not trained — the last training stopped; /train tries again"}
STATUS_JOB = "⏳ {kind}: {stage} {percent}%"
STATUS_CREDITS = "💳 Credits: {credits}"

CANCELLED = "🛑 Stopped. {refund}"
CANCEL_REFUND = "Your {credits} went back to your balance."
CANCEL_STOPPING = (
    "🛑 Stopping it now. I'll confirm here once it has stopped, and its credits go back then "
    "(if it finishes in the meantime, you get its portraits instead)."
)
NOTHING_TO_CANCEL = "Nothing is running right now."
NOT_YOUR_RUNNING_JOB = "That job has already finished, or it isn't yours to stop. /status shows what is running for you."
NOT_YOUR_JOB = "That's someone else's job — only they can stop it. /status shows what is running for you."
NOT_YOUR_BUTTON = "That button belongs to someone else's portraits — only they can use it. /styles paints your own."
PORTRAITS_GONE = "Those portraits aren't here any more. Pick a style to paint new ones:"

DELETE_CONFIRM = (
    "⚠️ This erases everything of yours: photos, your personal model, all portraits and your credits. "
    "It can't be undone. Are you sure?"
)
DELETED = "🗑 Done — everything of yours is gone. Send /start whenever you want to begin again."
DELETED_FILES_PENDING = (
    "🗑 Your account, credits and history are deleted. Some of your files could not be removed this very "
    "moment; they are removed automatically within the hour, and nothing of them is used meanwhile. "
    "Send /start whenever you want to begin again."
)
DELETED_MESSAGES_LEFT = (
    "⚠️ I couldn't take {messages} with your portraits out of the chat: please delete them yourself "
    "(long-press or right-click the message → Delete)."
)
PHOTOS_NOT_KEPT = "Your account was deleted while these photos arrived, so I didn't keep them. Send /start to begin again."
DELETE_KEPT = "Nothing was deleted."
DELETED_JOB_STOPPED = "🗑 Stopped: you deleted everything."
DELETE_BUTTON_OLD = (
    "That button is from before your last /delete, so I deleted nothing: everything you have sent since "
    "is still here. Send /delete if you want to delete it now."
)

# The shop's and the admin's sentences: bot/core/texts_shop.py, read through this module too.
from bot.core.texts_shop import *  # noqa: E402,F403

QUEUE_POSITION = "You're #{position} in line"
STAGE_NAMES = {
    "queued": "Waiting in line", "preparing": "Getting ready", "training": "Learning your face",
    "generating": "Painting", "finishing": "Finishing touches", "done": "Done",
    "likeness": "Painting a few more to get your likeness right", "validating": "Checking your likeness",
}

TRAIN_FAILED = "😔 Training didn't work this time. {refund} (error id {error_id})"
GENERATE_FAILED = "😔 I couldn't paint those portraits. {refund} (error id {error_id})"
STOPPED = "— stopped."


def refunded(credits: int) -> str:
    """What a failed or stopped job says of the ``credits`` it gave back (one wording everywhere)."""
    return CANCEL_REFUND.format(credits=plural(credits, "credit"))
APOLOGY = "😔 Something went wrong on my side. Please try again in a moment. (error id {error_id})"

ALBUM_CAPTION = "{title} · {index} of {count}"
ALBUM_FIRST_CAPTION = "{title} · {index} of {count} · best match first"
DELIVERED = "Here you go! {credits_left}"
LIKENESS_CAPTION = " · likeness {percent} %"
LIKENESS_LEGEND = "Likeness 100 % = as close to you as your own photos are to each other."
LIKENESS_SHORT = ("{short} stayed below the likeness I aim for ({bar} %) even after I painted more, "
                  "so you don't pay for {them}: {refund} back on your balance.")
CREDITS_LEFT = "· {credits} left"
ORIGINALS_CAPTION = "{title} — full resolution ({index} of {count})"

BUTTON_TIPS = "📸 How to take good selfies"
BUTTON_SEE_STYLES = "🎨 See styles"
BUTTON_TRAIN = "🚀 Train my model"
BUTTON_ADD_MORE = "➕ Add more photos"
BUTTON_BACK = "« Back"
BUTTON_FILES = "⬇️ Full-resolution files"
BUTTON_MORE = "🔁 More like this"
BUTTON_ANOTHER = "🎨 Another style"
BUTTON_DELETE_YES = "Yes, delete everything"
BUTTON_DELETE_NO = "No, keep it"
BUTTON_CANCEL = "🛑 Cancel"

# --- a returning user (appended) -------------------------------------------------------------------
STATUS_NEW_MODEL_TRAINING = "🧠 New model: training… (your current one paints until it's ready)"
STATUS_NEW_MODEL_STOPPED = ("🧠 New model: its training stopped; /train tries again (your current model "
                            "still paints)")
WELCOME_BACK_READY = "✨ Welcome back — your model is ready: tap “See styles” to paint new portraits."
WELCOME_BACK_TRAINING = "🧠 I'm still learning your face — I'll tell you here as soon as your model is ready."
TRAIN_NEW_NOT_READY = ("Your model has already learnt from the photos you sent before ✅ Pick a style to paint with "
                       "it. To train a new model, send {missing} more new selfies.")
BUTTON_TRY_AGAIN = "🔁 Try again"
KEPT_PHOTOS_AND_MODEL = "your photos and model stay here, ready"
KEPT_PHOTOS = "your photos stay here, ready"
TYPED_WITH_MODEL = "I don't read messages 🙂 Your model is ready: 🎨 Pick a style for new portraits, or use /help."
NEXT_MODEL_REPLACES = ("A model trained on these paints your portraits from then on; your current one keeps painting "
                       "until then.")
NO_MODEL_PHOTOS_READY = "First I need to learn your face: your photos are ready, tap “Train my model”."
PHOTOS_WHILE_FIRST_TRAINING = (
    "I'm still learning your face from the photos you sent before. These start a new set, for a next model: "
    "{accepted} of {min_photos} good photos so far (send {missing} more to train one); should this training not "
    "work out, they join the photos it learns from."
)
MODEL_EXPIRED = ("Your last model was deleted after {days} days without use (/privacy), so I need to learn your "
                 "face again: send {min_photos}+ selfies and tap “Train my model”.")
STATUS_MODEL_EXPIRED = "🧠 Model: deleted after {days} days without use — send selfies to train a new one"
RETRAIN_FAILED_MODEL_PAINTS = "Nothing is lost: your current model still paints, and your new photos are kept."
