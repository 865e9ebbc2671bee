"""The Telegram front end: python-telegram-bot's Application, long polling (or a webhook), the
album collector and the job watcher, all on one event loop."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass

from i18n import DEFAULT, Audience, Msg, languages, speaking
from telegram import Bot, BotCommand, BotCommandScopeAllGroupChats, MenuButtonWebApp, Message, Update, WebAppInfo
from telegram.error import BadRequest, TelegramError
from telegram.constants import ChatType, MessageAttachmentType
from telegram.ext import AIORateLimiter, Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot.core import texts
from bot.core.notifier import JobWatcher
from bot.core.replies import IncomingFile, Reply, UserRef, is_one_shot
from bot.core.seams import PlatformSeam
from bot.core.studio import Studio
from bot.core.usecases.gallery import MINI_APP_PATH
from bot.telegram.update_order import PerUserOrder
from bot.telegram.albums import AlbumCollector
from bot.telegram.payments import PLATFORM, StarsTill, user_of
from bot.telegram.speaking import Handler, audience_of, speaker_of, spoken, telegram_language
from bot.telegram.render import TelegramMessenger
from config.settings import Settings, require_secret

log = logging.getLogger(__name__)

BOT_API_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile on Telegram's servers; a local Bot API server has none
DESCRIPTION_LIMIT = 512  # setMyDescription
SHORT_DESCRIPTION_LIMIT = 120  # setMyShortDescription
COMMAND_DESCRIPTION_LIMIT = 256  # a BotCommand's description


@dataclass(frozen=True, slots=True)
class TooBig:
    """A file not downloaded: over ``limit_mb`` (this install's, or Telegram's servers')."""

    limit_mb: str
COMMANDS = [
    ("start", Msg("How it works")), ("styles", Msg("Pick a style for new portraits")),
    ("status", Msg("Your photos, model and jobs")), ("credits", Msg("Your balance")),
    ("cancel", Msg("Stop the running job")), ("delete", Msg("Erase everything of yours")), ("help", Msg("What I can do")),
    ("privacy", Msg("What I keep and for how long")), ("language", Msg("Change the language I speak")),
]
SELLING_COMMANDS = [("buy", Msg("Buy credits")), ("paysupport", Msg("Help with a payment"))]
ADMIN_COMMANDS = ["grant", "train", "refund"]
GALLERY_COMMANDS = [("gallery", Msg("Your portraits and the styles, on a page"))]  # where STUDIO_WEB_URL is set
GALLERY_MENU_BUTTON = Msg("Gallery", same=True, note="Telegram's menu button beside the message field, opening the "
                          "gallery (where STUDIO_WEB_URL is set). Telegram has one such button for every language: "
                          "the bot sets it in English, a word most languages read alike")
GROUP_COMMANDS = [("start", Msg("Open a private chat with me"))]
"""The command menu in groups: the conversation happens only in private chats (``_in_group``)."""
PRIVATE_CHAT_PAYLOAD = "group"  # /start's deep-link payload from a group's "Open a private chat" button
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]  # what the bot handles; Telegram sends nothing else
SELLING_UPDATES = [Update.PRE_CHECKOUT_QUERY]  # payments themselves arrive as messages
KNOWN_KINDS = ("venue", *(attachment.value for attachment in MessageAttachmentType), "giveaway", "giveaway_winners",
               "checklist")
"""What a person's message may hold, by Telegram's name (a venue first: it carries its location too)."""


def kind_of(message: Message) -> str:
    """What a message holds, for the log (nothing of what it says or shows). A kind this bot's
    library doesn't know yet is named by its new field(s)."""
    for kind in KNOWN_KINDS:
        if getattr(message, kind, None):
            return kind
    return "+".join(sorted(message.api_kwargs)[:3]) or "empty"


class TelegramFrontEnd:
    def __init__(self, settings: Settings, studio: Studio, *, album_quiet_seconds: float = 1.5,
                 poll_seconds: float = 1.0, edit_interval_seconds: float = 3.0,
                 delivery_retry_seconds: float | None = None) -> None:
        token = require_secret(settings, "telegram_token", "the Telegram bot")
        builder = (Application.builder().token(token).rate_limiter(AIORateLimiter(max_retries=3))
                   .concurrent_updates(PerUserOrder()))  # per user in order, users at once
        if settings.telegram_base_url:
            builder = builder.base_url(settings.telegram_base_url)
        if settings.telegram_base_file_url:
            builder = builder.base_file_url(settings.telegram_base_file_url)
        self.settings = settings
        self.studio = studio
        # Nothing larger than the photo check takes is downloaded; Telegram's own servers also refuse
        # downloads over 20 MB (a local Bot API server refuses none). The refusal names the limit that holds.
        ours = studio.intake.max_file_bytes
        self.download_limit = ours if settings.telegram_base_url else min(ours, BOT_API_DOWNLOAD_LIMIT)
        self.download_limit_mb = (f"{ours / 1_000_000:g}" if self.download_limit == ours
                                  else str(BOT_API_DOWNLOAD_LIMIT // 1024 // 1024))
        self.application = builder.build()
        self.messenger = TelegramMessenger(self.application.bot)
        self.albums = AlbumCollector(self._answer_photos, quiet_seconds=album_quiet_seconds)
        self._explained: dict[tuple[str, str], None] = {}  # (album, kind) already answered, oldest first
        watcher_options = {"poll_seconds": poll_seconds, "edit_interval_seconds": edit_interval_seconds}
        if delivery_retry_seconds is not None:
            watcher_options["delivery_retry_seconds"] = delivery_retry_seconds
        self.watcher = JobWatcher(studio, self.messenger, **watcher_options)
        self.till = StarsTill(studio, lambda: self.application.bot, self.send)
        studio.connect(PlatformSeam(PLATFORM, edit=self.messenger.edit, refund=self.till.give_back, post=self.send))
        selling = studio.selling(PLATFORM)
        self.commands = COMMANDS + (SELLING_COMMANDS if selling else []) + (GALLERY_COMMANDS if settings.web_url else [])
        self.allowed_updates = ALLOWED_UPDATES + (SELLING_UPDATES if selling else [])
        self._register()

    def _register(self) -> None:
        app = self.application
        # an edit of an old message is not a new request (nor a new photo); a group is no place for selfies
        new = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
        commands = [name for name, _ in self.commands] + ADMIN_COMMANDS

        def said(handler: Handler) -> Handler:  # each update is answered in its sender's language
            return spoken(self.studio, handler)

        self.till.register(app)  # payments are credited wherever they arrive
        app.add_handler(CommandHandler(commands, said(self._in_group),
                                       filters=filters.UpdateType.MESSAGE & filters.ChatType.GROUPS))
        app.add_handler(CommandHandler(commands, said(self._on_command), filters=new))
        app.add_handler(CallbackQueryHandler(said(self._on_button)))
        # an animation (a GIF) comes with a document too: it is no photo to check
        app.add_handler(MessageHandler(new & (filters.PHOTO | (filters.Document.ALL & ~filters.ANIMATION)),
                                       said(self._on_file)))
        app.add_handler(MessageHandler(new & filters.Sticker.ALL, said(self._unsupported("sticker"))))
        app.add_handler(MessageHandler(new & (filters.VIDEO | filters.VIDEO_NOTE | filters.LIVE_PHOTO),
                                       said(self._unsupported("video"))))
        app.add_handler(MessageHandler(new & filters.ANIMATION, said(self._unsupported("animation"))))
        app.add_handler(MessageHandler(new & (filters.VOICE | filters.AUDIO), said(self._unsupported("audio"))))
        app.add_handler(MessageHandler(new & filters.TEXT & ~filters.COMMAND, said(self._on_text)))
        app.add_handler(MessageHandler(new & filters.COMMAND, said(self._on_command)))  # unknown commands: help
        # Anything else a person sends here (a location, a contact, a poll, a dice, a story, a kind of message
        # Telegram adds later) is told what the bot expects. Last: a handler above that takes a message
        # ends its handling (one group), so nothing is answered twice; service messages (a pin, a timer,
        # web-app data) get no answer, and payments are the till's.
        app.add_handler(MessageHandler(new & ~(filters.StatusUpdate.ALL | filters.SUCCESSFUL_PAYMENT),
                                       said(self._on_other)))
        app.add_error_handler(self._on_error)

    # ------------------------------------------------------------------ lifecycle
    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set."""
        async with self.application:
            await self.set_menus()
            await self.application.start()
            try:
                await self._serve(stop)
            finally:  # also when the updater could not start (e.g. the webhook port is taken)
                await self.application.stop()

    async def set_menus(self) -> None:
        """The command menus (private chats, groups) and the bot's profile texts, once for the default
        (English) and once per other language the bot speaks: Telegram shows each user those of their
        app's language. A language Telegram knows by one code (``pt``) is set once."""
        bot = self.application.bot
        done: set[str | None] = set()
        for language in languages():
            code = None if language == DEFAULT else telegram_language(language)
            if code in done:
                continue
            done.add(code)
            with speaking(Audience(language)):
                private = [BotCommand(n, str(d)[:COMMAND_DESCRIPTION_LIMIT]) for n, d in self.commands]
                group = [BotCommand(n, str(d)[:COMMAND_DESCRIPTION_LIMIT]) for n, d in GROUP_COMMANDS]
                description = str(texts.BOT_DESCRIPTION)[:DESCRIPTION_LIMIT]
                short = str(texts.BOT_SHORT_DESCRIPTION)[:SHORT_DESCRIPTION_LIMIT]
            await bot.set_my_commands(private, language_code=code)
            await bot.set_my_commands(group, scope=BotCommandScopeAllGroupChats(), language_code=code)
            await describe(bot, code, description, short)
        if self.settings.web_url:
            await self.set_menu_button()

    async def set_menu_button(self) -> None:
        """The chat's menu button opens the gallery as a Mini App (its ``/app`` door, which knows the
        user by Telegram's initData: one URL for everyone, where ``/gallery`` hands each user a link of
        their own). Telegram keeps one default menu button for all languages, so its text is said in
        English. A refusal (an address that is not https) is logged and the bot serves on."""
        url = self.settings.web_url.rstrip("/") + MINI_APP_PATH
        with speaking(Audience(DEFAULT)):
            text = str(GALLERY_MENU_BUTTON)
        try:
            await self.application.bot.set_chat_menu_button(menu_button=MenuButtonWebApp(text, WebAppInfo(url)))
        except TelegramError as error:
            log.warning("could not set the menu button to open the gallery at %s (%s: %s); the menu lists /gallery",
                        url, type(error).__name__, error)

    async def _serve(self, stop: asyncio.Event) -> None:
        updater = self.application.updater
        assert updater is not None
        if self.settings.telegram_webhook_url:
            await updater.start_webhook(
                listen="0.0.0.0", port=self.settings.telegram_webhook_port, url_path="telegram",
                webhook_url=self.settings.telegram_webhook_url.rstrip("/") + "/telegram",
                secret_token=secrets.token_urlsafe(24), allowed_updates=self.allowed_updates,
            )
        else:
            await updater.start_polling(poll_interval=0.0, timeout=10, allowed_updates=self.allowed_updates)
        me = self.application.bot
        log.info("Telegram bot @%s is up (%s)", me.username, "webhook" if self.settings.telegram_webhook_url else "long polling")
        watcher = asyncio.create_task(self.watcher.run(stop))
        reconciler = asyncio.create_task(self.till.reconcile()) if self.studio.selling(PLATFORM) else None
        try:
            await stop.wait()
        finally:
            if reconciler is not None:
                reconciler.cancel()
                await asyncio.gather(reconciler, return_exceptions=True)
            await self.albums.drain()
            await watcher
            await updater.stop()

    # ------------------------------------------------------------------ sending
    async def send(self, user: UserRef, replies: list[Reply]) -> None:
        for reply in replies:
            message_id = await self.messenger.send(user.chat_id, reply)
            if reply.progress_of_job is not None and message_id is not None:
                await self.studio.remember_progress_message(reply.progress_of_job, message_id)

    # ------------------------------------------------------------------ handlers
    def private_chat_link(self) -> str:
        return f"https://t.me/{self.application.bot.username}?start={PRIVATE_CHAT_PAYLOAD}"

    async def _in_group(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """One of our commands in a group (Telegram delivers a group's other messages only where the bot
        reads everything, and those get no answer): the way to the private chat."""
        await self.send(user_of(update), await self.studio.private_chat_only(user_of(update), self.private_chat_link()))

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None and message.text is not None
        name = message.text.split()[0].lstrip("/").split("@")[0]
        await self.send(user_of(update), await self.studio.command(user_of(update), name, list(context.args or [])))

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        await self.send(user_of(update), await self.studio.text(user_of(update), message.text or ""))

    def _unsupported(self, kind: str):  # type: ignore[no-untyped-def]
        async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            if self._explained_already(update.effective_message, kind):
                return
            await self.send(user_of(update), await self.studio.unsupported(user_of(update), kind))

        return handler

    async def _on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A message of a kind no other handler takes: the core's answer to a message it can't use,
        which says what it expects now (selfies; the styles once a model paints)."""
        message = update.effective_message
        if message is None or update.effective_user is None:  # nobody to answer
            return
        kind = kind_of(message)
        if self._explained_already(message, kind):
            return
        user = user_of(update)
        log.info("telegram:%s sent a %s message%s; answered with what I expect", user.user_id, kind,
                 "" if kind in KNOWN_KINDS else " (a kind new to this bot)")
        await self.send(user, await self.studio.text(user, ""))

    def _explained_already(self, message: Message | None, kind: str) -> bool:
        """Whether this message is part of an album whose ``kind`` of message was already answered:
        an album's videos (say) are explained once, not once each."""
        group = message.media_group_id if message is not None else None
        if group is None:
            return False
        if (group, kind) in self._explained:
            return True
        self._explained[(group, kind)] = None
        while len(self._explained) > 1000:
            self._explained.pop(next(iter(self._explained)))
        return False

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        if query.message is not None and query.message.chat.type != ChatType.PRIVATE:
            # a button the bot once posted where others read along: any member could press it
            await query.answer(str(texts.PRIVATE_CHAT_ONLY_ALERT), show_alert=True)
            return
        await query.answer()
        if is_one_shot(query.data or "") and query.message:
            try:
                await query.edit_message_reply_markup(None)  # the question is answered
            except BadRequest:
                log.debug("buttons of message %s already gone", query.message.message_id)
        source = str(query.message.message_id) if query.message else ""
        await self.send(user_of(update), await self.studio.action(user_of(update), query.data or "", source_message_id=source))

    async def _on_file(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        user = user_of(update)
        album = self.albums.expect(message.media_group_id, user) if message.media_group_id else None
        try:
            incoming = await self._download(message)
        except BaseException:
            if album is not None:
                self.albums.add(album, None)
            raise
        if album is not None:
            self.albums.add(album, None if isinstance(incoming, TooBig) else incoming)
        if isinstance(incoming, TooBig):
            await self.send(user, await self.studio.unsupported(user, "file_too_big", limit_mb=incoming.limit_mb))
        elif album is None:
            await self._answer_photos(user, [incoming])

    async def _download(self, message: Message) -> IncomingFile | TooBig:
        attachment = message.document or message.photo[-1]  # photo sizes come smallest first
        if (attachment.file_size or 0) > self.download_limit:
            return TooBig(self.download_limit_mb)
        try:
            telegram_file = await attachment.get_file()
        except BadRequest as error:
            if "too big" in str(error).lower():  # Telegram's servers' own limit
                return TooBig(str(BOT_API_DOWNLOAD_LIMIT // 1024 // 1024))
            raise
        data = bytes(await telegram_file.download_as_bytearray())
        if message.document is not None:
            return IncomingFile(data, message.document.file_name or "document", sent_as_document=True)
        return IncomingFile(data, f"photo-{message.message_id}.jpg")

    async def _answer_photos(self, user: UserRef, files: list[IncomingFile]) -> None:
        """A photo, or an album once its last photo arrived (the album collector's timer: no update's
        handler around it, so the language is the user's here too)."""
        with speaking(await audience_of(self.studio, user)):
            if len(files) > 3:  # a big album takes a few seconds: say so at once
                await self.send(user, [Reply(texts.PHOTOS_RECEIVED.format(count=len(files)), typing=True)])
            await self.send(user, await self.studio.photos(user, files))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error_id = secrets.token_hex(4)
        log.error("error %s handling a Telegram update", error_id, exc_info=context.error, extra={"error_id": error_id})
        if isinstance(update, Update) and update.effective_chat is not None:
            try:
                user = speaker_of(update)
                audience = await audience_of(self.studio, user) if user is not None else Audience()
                with speaking(audience):
                    apology = texts.APOLOGY.format(error_id=error_id)
                await self.application.bot.send_message(update.effective_chat.id, apology)
            except Exception:
                log.warning("could not send the apology for error %s", error_id)



async def describe(bot: Bot, language_code: str | None, description: str, short: str) -> None:
    """The bot's description (its empty chat's "What can this bot do?") and short description (its
    profile page) in one language: set only where they changed, since Telegram limits how often they
    may change (a bot restarted often would be refused); a refusal is logged and the bot serves on."""
    try:
        if (await bot.get_my_description(language_code=language_code)).description != description:
            await bot.set_my_description(description, language_code=language_code)
        if (await bot.get_my_short_description(language_code=language_code)).short_description != short:
            await bot.set_my_short_description(short, language_code=language_code)
    except TelegramError as error:
        log.warning("could not set the bot's description for %s (%s: %s); it keeps the one it had",
                    language_code or "the default language", type(error).__name__, error)
