"""Sentences only the Discord skin says (slash-command help, the upload modal). Everything the
conversation itself says lives in bot/core/texts.py."""

from __future__ import annotations

from i18n import Msg

HELP = (
    Msg("Here's what I can do:\n"
    "`/start` — how it works\n"
    "`/upload` — add selfies (attach them, or pick up to 10 at once in the upload window)\n"
    "`/train` — learn your face from your selfies\n"
    "`/styles` — browse the styles · `/generate` — paint portraits in a style\n"
    "`/status` — your photos, model and jobs · `/credits` — your balance\n"
    "`/cancel` — stop the job that's running · `/delete` — erase everything of yours\n"
    "`/privacy` — what I keep and for how long · `/language` — change the language I speak\n\n"
    "In a server, only you see your photos' verdicts, balance and errors; progress and portraits "
    "appear in the channel.")
)

HELP_BUY = Msg("`/buy` — buy credits (sold in Discord's store; a job that fails gives its credits back)")

DIRECT_MESSAGE = (Msg("I only read slash commands 🙂 Send your selfies with `/upload` (attach them, or pick them in "
                  "the window), or see `/help` for everything I can do."))
"""The answer to a direct message (the core says it as "send me selfies", which a message can't do here)."""

UPLOAD_TITLE = Msg("Upload your selfies")
UPLOAD_LABEL = Msg("Selfies (1–10 at a time)")
UPLOAD_HINT = Msg("Just you, face clearly visible, different angles and light. Originals work best.")

TOO_BIG_TO_UPLOAD = Msg("⚠️ {filename} ({size_mb:.1f} MB) is over the {limit_mb:.0f} MB upload limit here, so I can't attach it.")

NOWHERE_TO_POST = (
    Msg("⚠️ I can't post in this channel and your direct messages are closed to me, so I couldn't show "
    "you progress or send your portraits. Allow direct messages from this server's members (Privacy "
    "Settings), or talk to me in a DM. I've stopped that job:")
)

PROGRESS_IN_CHANNEL = (
    Msg("👀 Everyone in this channel sees this job's progress and your portraits. To keep them to yourself, "
    "talk to me in a DM (what you start there stays between us).")
)

PROGRESS_IN_DMS = Msg("📬 I can't post in this channel, so I'll send the progress and your portraits to your DMs.")
