"""Every sentence the bot says, in one place. Short, friendly, scannable; every refusal says why
and what to do next. (Photo verdict sentences live with the checks in engine/intake/reasons.py.)

Each sentence is an ``i18n.Msg``: written here in English, said in the language of whoever it is
for (``i18n/locales/*.po``; ``python -m studio.catalogue`` remakes the template after a change)."""

from __future__ import annotations

from i18n import Msg, Plural

PROGRESS_CELLS = 10

# counts, in each language's plural forms ({n}: the count as the language writes numbers)
CREDIT_COUNT = Plural("{n} credit", "{n} credits")
PORTRAIT_COUNT = Plural("{n} portrait", "{n} portraits")
MESSAGE_COUNT = Plural("{n} message", "{n} messages")
PHOTO_COUNT = Plural("{n} photo", "{n} photos")
PICTURE_COUNT = Plural("{n} picture", "{n} pictures")
FILE_COUNT = Plural("{n} full-resolution file", "{n} full-resolution files")


def progress_bar(fraction: float) -> str:
    filled = max(0, min(PROGRESS_CELLS, round(fraction * PROGRESS_CELLS)))
    return "▰" * filled + "▱" * (PROGRESS_CELLS - filled)


LESS_THAN_A_MINUTE = Msg("less than a minute")
ABOUT_MINUTES = Plural("about {n} min", "about {n} min", note="a job's time left, short")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return str(LESS_THAN_A_MINUTE)
    return ABOUT_MINUTES(max(1, round(seconds / 60)))


HELLO = Msg("👋 Hi!")
HELLO_NAMED = Msg("👋 Hi {name}!")
WELCOME = Msg(
    "{hello} I turn your selfies into studio-quality portraits: LinkedIn headshots, dating-profile "
    "shots, gym photos, Ghibli-style art and more.\n\n"
    "1️⃣ Send me {min_photos}–{max_photos} selfies (as files for the best quality)\n"
    "2️⃣ I learn your face (a few minutes)\n"
    "3️⃣ Pick styles and get your portraits right here.\n\n"
    "You have {credits}. Your photos are private: /privacy · /delete anytime."
)


def welcome(name: str, credits: int, min_photos: int, max_photos: int) -> str:
    hello = HELLO_NAMED.format(name=name) if name else str(HELLO)
    return WELCOME.format(hello=hello, min_photos=min_photos, max_photos=max_photos, credits=CREDIT_COUNT(credits))


SELFIE_TIPS = (
    Msg("📸 How to take good selfies\n"
    "• Just you in the photo, face clearly visible\n"
    "• Different angles, expressions and places\n"
    "• Soft daylight; no sunglasses, hats or heavy filters\n"
    "• Send them as files rather than compressed photos, so they keep full quality\n"
    "• Close-ups and a few half-body shots work best")
)

UNKNOWN_COMMAND = Msg("I don't know /{name} 🤔")
PRIVATE_CHAT_ONLY = (Msg("🔒 Your selfies and portraits are yours alone, so I only work in a private chat. "
                     "Tap below to open ours — everything starts there."))
PRIVATE_CHAT_ONLY_ALERT = Msg("🔒 I only work in a private chat with you: message me directly to continue.")
BUTTON_OPEN_PRIVATE_CHAT = Msg("💬 Open a private chat")
HELP = (
    Msg("Here's what I can do:\n"
    "/start — how it works\n"
    "/styles — pick a style for new portraits\n"
    "/status — your photos, model and jobs\n"
    "/credits — your balance\n"
    "/cancel — stop the job that's running\n"
    "/delete — erase everything of yours\n"
    "/privacy — what I keep and for how long\n"
    "/language — change the language I speak\n\n"
    "Send photos any time to add them to your set.")
)

BOT_DESCRIPTION = Msg(
    "I turn your selfies into studio-quality portraits: LinkedIn headshots, dating-profile shots, gym photos, "
    "Ghibli-style art and more. Send 8–20 selfies, I learn your face in a few minutes, and your portraits arrive "
    "right here in the chat. Tap Start to begin.", note="Telegram's bot description: at most 512 characters")
BOT_SHORT_DESCRIPTION = Msg(
    "Your selfies, turned into studio portraits: LinkedIn, dating, gym, Ghibli-style and more.",
    note="Telegram's short description (profile page): at most 120 characters")

LANGUAGE_PICK = Msg("🌐 Which language should I speak? Now: {language}.")
BUTTON_LANGUAGE_FROM_APP = Msg("📱 My app's language")
LANGUAGE_CHOSEN = Msg("Done! From now on I'll speak English.",
                      note="said in the language just chosen: name that language")
LANGUAGE_FROM_APP = Msg("Done! I'll speak the language your app is set to (now: {language}).")
LANGUAGE_UNKNOWN = Msg("I don't speak that language yet. Pick one of these:")

CONSENT = (
    Msg("Before your first photo, please confirm two things:\n"
    "• the photos you send are of you (not of someone else)\n"
    "• you are 18 or older\n"
    "Your photos are used only to make your portraits: /privacy")
)
CONSENT_FIRST = Msg("I can't take photos yet — please confirm first:")
BUTTON_CONSENT = Msg("✅ I confirm")
CONSENT_THANKS = Msg("Thank you! Now send me {min_photos}–{max_photos} selfies (as files for the best quality).")
CONSENT_ALREADY = Msg("You've already confirmed — send your selfies whenever you're ready.", gendered=True)

PHOTOS_RECEIVED = Msg("📥 Got {count} photos — checking them all…")
SOME_PHOTOS = Msg("photos", note="what an upload window held, when the bot does not know how many")
UPLOAD_WINDOW_EXPIRED = (Msg("⌛ That upload window has expired, so the {photos} in it didn't reach me. Please open "
                         "/upload again and pick them once more."))
NOT_A_PHOTO_TEXT = Msg("I was expecting photos 🙂 Send me selfies, or use /help to see what I can do.")
STICKER = Msg("Cute sticker! 😄 But I need real photos of you — send selfies as photos or files.")
VIDEO = Msg("I can't learn from videos. Please send still photos of yourself instead.")
FILE_TOO_BIG = Msg("This file is larger than the {limit_mb} MB I can download. Please send a smaller copy of the photo.")
ANIMATION = Msg("That's an animation. Please send still photos of yourself.")
AUDIO = Msg("I can't use audio or voice messages. Please send selfies.")

# The answer to a batch of photos
BATCH_ONE_GOOD = Msg("Got your photo — looks great ✅")
BATCH_ONE_REFUSED = Msg("Got your photo, but I can't use it:")
BATCH_NONE_GOOD = Msg("Got {count} photos, but I can't use them:")
REFUSED_NAMED = Msg("✖ {name}: {reason}")
REFUSED_NUMBERED = Msg("✖ Photo {number}: {reason}")
REFUSED_ONE = Msg("✖ {reason}")
MIXED_PEOPLE = Msg("These photos seem to show more than one person. Please send photos of only yourself.")
SET_READY_COUNT = Msg("You have {accepted} good photos. ")
PHOTOS_SO_FAR = Msg("{accepted} of {min_photos} good photos so far — send {missing} more.")
TRAIN_MINUTES_ESTIMATE = Msg("about 5 minutes")
UNKNOWN_STYLE_TITLE = Msg("Portrait")  # a job of a style no longer in the catalogue


BATCH_SOME_GOOD = Plural("Got {count} photos — {n} looks great ✅", "Got {count} photos — {n} look great ✅")


def batch_good(count: int, good: int) -> str:
    """The head of the answer to several photos, some good."""
    return BATCH_SOME_GOOD(good, count=count)


SET_READY = Msg("You're ready to train! It takes {minutes} and {cost}.", gendered=True)
CHOOSE_CLASS = Msg("Who is in the photos? This helps me paint you right.")
CLASS_WORDS = {"man": Msg("👨 A man"), "woman": Msg("👩 A woman"), "person": Msg("🧑 Prefer not to say")}

TRAIN_QUEUED = Msg("🧠 Learning your face…")
TRAIN_ALREADY = Msg("I'm already learning your face — I'll tell you as soon as it's done.")
TRAIN_NOT_READY = Plural("I need {n} more good photo before I can learn your face. Send a few more selfies!",
                         "I need {n} more good photos before I can learn your face. Send a few more selfies!")
MODEL_READY = Msg("✨ Your model is ready! Pick a style:")
MODEL_LIKENESS = (Msg("✨ Your model is ready! Its test portraits look {likeness} like you "
                  "(100% = as close as your own photos are to each other). Pick a style:"))
STATUS_LIKENESS = Msg(" · likeness {likeness}")
MODEL_TEST_LIKENESS = Msg("Its test portraits look {likeness} like you (100% = as close as your own photos are to each other).")
NO_MODEL = Msg("First I need to learn your face: send {min_photos}+ selfies and tap “Train my model”.")
MODEL_TRAINING = Msg("Your model is still training — I'll show you the styles as soon as it's ready.")

PREVIEW_CAPTION = Msg("⚡ Quick preview · {title} · {index} of {count}")
PREVIEW_DELIVERED = (
    Msg("⚡ Here's a quick preview of you, painted from your selfies in seconds — free. It isn't your personal "
    "model yet: the portraits your model paints will look much more like you.")
)
PROGRESS_BELOW = Msg("{title} — progress below ⬇️")
MODEL_READY_AFTER_PREVIEW = (
    Msg("✨ Your model is ready! Its portraits will look much more like you than the quick preview. "
    "Paint {title} with it in one tap, or pick another style:")
)
BUTTON_PAINT_WITH_MODEL = Msg("✨ {title} with my model")

PICK_STYLE = Msg("🎨 Pick a style:")
PICK_IN_CATEGORY = Msg("{emoji} {title} — pick one:")
GENERATE_QUEUED = Msg("🎨 Painting {count} {title} portraits…")
UNKNOWN_STYLE = Msg("I don't know that style any more. Here are the current ones:")
UNKNOWN_STYLE_NAMED = Msg("I don't know a style called “{name}”. Here are the styles — pick a category:")
UNKNOWN_CATEGORY_NAMED = Msg("I don't have a category called “{name}”. Here they are — pick one:")

OUT_OF_CREDITS = (
    Msg("You're out of credits: this needs {needed} and you have {balance}. "
    "Ask an admin for more credits — {kept}.")
)
OUT_OF_CREDITS_BUY = (
    Msg("You're out of credits: this needs {needed} and you have {balance}. "
    "Buy more below — {kept}.")
)
QUEUE_FULL = Msg("You already have {limit} jobs waiting. I'll take new requests as soon as one finishes.")
RATE_LIMITED = Msg("Whoa, that's fast! Please wait {seconds} s and try again: I won't answer what you send before then.")
RATE_LIMITED_AGAIN = Msg("Still too fast — try again in {seconds} s.")
PHOTOS_TOO_FAST = Msg("That's a lot of photos at once, so I didn't take the last ones. In {seconds} s, send again "
                      "the photos I haven't answered.")

CREDITS = Msg("💳 You have {credits}. A personal model costs {train_cost}; each style batch costs {generate_cost}.")

STATUS_HEADER = Msg("📋 Your status")
STATUS_PHOTOS = Msg("📸 Photos: {accepted} good of {total} sent (need {min_photos})")
STATUS_NEXT_PHOTOS = Msg("📸 New photos for your next model: {accepted} good of {total} sent (need {min_photos})")
NEXT_MODEL_PHOTOS = (Msg("These start a new set, for your next model: {accepted} of {min_photos} good photos so far (send "
                     "{missing} more to train one). Your current model keeps the photos it learnt from."))
STATUS_MODEL = {"none": Msg("🧠 Model: not trained yet"), "training": Msg("🧠 Model: training…"),
                "ready": Msg("🧠 Model: ready ✅"), "failed": Msg("🧠 Model: not trained — the last training stopped; /train tries again")}
STATUS_JOB = Msg("⏳ {kind}: {stage} {percent}")
JOB_KINDS = {"train": Msg("Training"), "generate": Msg("Portraits"), "preview": Msg("Quick preview")}
STATUS_CREDITS = Msg("💳 Credits: {credits}")

CANCELLED = Msg("🛑 Stopped. {refund}")
CANCEL_REFUND = Msg("Your {credits} went back to your balance.")
CANCEL_STOPPING = (
    Msg("🛑 Stopping it now. I'll confirm here once it has stopped, and its credits go back then "
    "(if it finishes in the meantime, you get its portraits instead).")
)
NOTHING_TO_CANCEL = Msg("Nothing is running right now.")
NOT_YOUR_RUNNING_JOB = Msg("That job has already finished, or it isn't yours to stop. /status shows what is running for you.")
NOT_YOUR_JOB = Msg("That's someone else's job — only they can stop it. /status shows what is running for you.")
NOT_YOUR_BUTTON = Msg("That button belongs to someone else's portraits — only they can use it. Use /styles to paint your own.")
PORTRAITS_GONE = Msg("Those portraits aren't here any more. Pick a style to paint new ones:")

# The shop's and the admin's sentences (bot/core/texts_shop.py) and those of privacy, retention and
# /delete (bot/core/texts_privacy.py), read through this module too.
from bot.core.texts_privacy import *  # noqa: E402,F403
from bot.core.texts_shop import *  # noqa: E402,F403

TIME_LEFT = Msg("{time} left", note="{time}: about 5 min / less than a minute")
QUEUE_POSITION = Msg("You're number {position} in line")
STAGE_NAMES = {
    "queued": Msg("Waiting in line"), "preparing": Msg("Getting ready"), "training": Msg("Learning your face"),
    "generating": Msg("Painting"), "finishing": Msg("Finishing touches"), "done": Msg("Done"),
    "likeness": Msg("Painting a few more to get your likeness right"), "validating": Msg("Checking your likeness"),
}

TRAIN_FAILED = Msg("😔 Training didn't work this time. {refund} (error id {error_id})")
GENERATE_FAILED = Msg("😔 I couldn't paint those portraits. {refund} (error id {error_id})")
STOPPED = Msg("— stopped.")


def refunded(credits: int) -> str:
    """What a failed or stopped job says of the ``credits`` it gave back (one wording everywhere)."""
    return CANCEL_REFUND.format(credits=CREDIT_COUNT(credits))
APOLOGY = Msg("😔 Something went wrong on my side. Please try again in a moment. (error id {error_id})")

ALBUM_CAPTION = Msg("{title} · {index} of {count}")
ALBUM_FIRST_CAPTION = Msg("{title} · {index} of {count} · best match first")
DELIVERED = Msg("Here you go! {credits_left}")
LIKENESS_CAPTION = Msg(" · likeness {percent}")
LIKENESS_LEGEND = Msg("Likeness 100% = as close to you as your own photos are to each other.")
LIKENESS_SHORT = Plural(
    "{n} portrait stayed below the likeness I aim for ({bar}) even after I painted more, so you don't pay for it: "
    "{refund} back on your balance.",
    "{n} portraits stayed below the likeness I aim for ({bar}) even after I painted more, so you don't pay for "
    "them: {refund} back on your balance.")
CREDITS_LEFT = Msg("{credits} left on your balance.")
ORIGINALS_CAPTION = Msg("{title} — full resolution ({index} of {count})")

BUTTON_TIPS = Msg("📸 How to take good selfies")
BUTTON_SEE_STYLES = Msg("🎨 See styles")
BUTTON_TRAIN = Msg("🚀 Train my model")
BUTTON_ADD_MORE = Msg("➕ Add more photos")
BUTTON_BACK = Msg("« Back")
BUTTON_FILES = Msg("⬇️ Full-resolution files")
BUTTON_MORE = Msg("🔁 More like this")
BUTTON_ANOTHER = Msg("🎨 Another style")
BUTTON_DELETE_YES = Msg("Yes, delete everything")
BUTTON_DELETE_NO = Msg("No, keep it")
BUTTON_CANCEL = Msg("🛑 Cancel")

# --- a returning user (appended) -------------------------------------------------------------------
STATUS_NEW_MODEL_TRAINING = Msg("🧠 New model: training… (your current one paints until it's ready)")
STATUS_NEW_MODEL_STOPPED = (Msg("🧠 New model: its training stopped; /train tries again (your current model "
                            "still paints)"))
WELCOME_BACK_READY = Msg("✨ Welcome back — your model is ready: tap “See styles” to paint new portraits.", gendered=True)
WELCOME_BACK_TRAINING = Msg("🧠 I'm still learning your face — I'll tell you here as soon as your model is ready.")
TRAIN_NEW_NOT_READY = (Msg("Your model has already learnt from the photos you sent before ✅ Pick a style to paint with "
                       "it. To train a new model, send {missing} more new selfies.", gendered=True))
BUTTON_TRY_AGAIN = Msg("🔁 Try again")
KEPT_PHOTOS_AND_MODEL = Msg("your photos and model stay here, ready")
KEPT_PHOTOS = Msg("your photos stay here, ready")
TYPED_WITH_MODEL = Msg("I don't read messages 🙂 Your model is ready: 🎨 Pick a style for new portraits, or use /help.")
NEXT_MODEL_REPLACES = (Msg("A model trained on these paints your portraits from then on; your current one keeps painting "
                       "until then."))
NO_MODEL_PHOTOS_READY = Msg("First I need to learn your face: your photos are ready, tap “Train my model”.")
PHOTOS_WHILE_FIRST_TRAINING = (
    Msg("I'm still learning your face from the photos you sent before. These start a new set, for your next model: "
    "{accepted} of {min_photos} good photos so far (send {missing} more to train one); should this training not "
    "work out, they join the photos it learns from.", gendered=True)
)
MODEL_EXPIRED = (Msg("Your last model was deleted after {days} without use (/privacy), so I need to learn your "
                 "face again: send {min_photos}+ selfies and tap “Train my model”."))
STATUS_MODEL_EXPIRED = Msg("🧠 Model: deleted after {days} without use — send selfies to train a new one")
RETRAIN_FAILED_MODEL_PAINTS = Msg("Nothing is lost: your current model still paints, and your new photos are kept.")
