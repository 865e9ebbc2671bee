"""The Discord front end: a discord.py client that speaks interactions (and hears direct messages
only to say what it takes; no privileged intents), the slash-command tree synced on start,
buttons and an upload window that survive restarts, and the job watcher that edits progress
messages and delivers finished jobs by channel id."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import discord
import yarl
from discord import app_commands

from bot.core import texts as core_texts
from bot.core.messenger import Unreachable
from bot.core.notifier import JobWatcher
from bot.core.replies import Reply, UserRef, is_one_shot
from bot.core.seams import PlatformSeam
from bot.core.studio import Studio
from bot.discord import commands, texts
from bot.discord.render import DiscordMessenger, UploadLimits
from bot.discord.replier import PLATFORM, Replier, audience_of, user_of
from bot.discord.uploads import (MAX_FILES, WINDOW_ID, UploadModal, download, files_in_submit, too_big_text,
                                 unsupported_kind)
from bot.discord.purchases import StoreTill
from bot.discord.token_messages import TokenMessages
from bot.discord.translator import CatalogueTranslator
from bot.discord.turns import Turn, Turns
from bot.discord.views import StudioButton
from config.settings import Settings, require_secret
from i18n import Audience, speaking

log = logging.getLogger(__name__)

INTENTS = discord.Intents(dm_messages=True)
"""Interactions arrive without any intent; direct messages (not a privileged intent) only so that each
gets an answer saying what the bot takes. No server's messages, nothing privileged."""
PERSON_SENT = (discord.MessageType.default, discord.MessageType.reply)  # not a pin, a call, a poll's result
PERMISSIONS = discord.Permissions(view_channel=True, send_messages=True, send_messages_in_threads=True,
                                  attach_files=True, embed_links=True, read_message_history=True)
SCOPES = ("bot", "applications.commands")
BUSY_ALBUM = 3  # more photos than this: say "checking…" at once
Interaction = discord.Interaction[Any]


def message_kind(message: discord.Message) -> str:
    """What a message holds, for the log (nothing of what it says or shows): ``text+image``, ``poll``..."""
    parts = ["text"] if message.content else []
    for attachment in message.attachments:
        kind = (attachment.content_type or "").split("/")[0]
        parts.append(kind if kind in ("image", "video", "audio") else "file")
    parts += [kind for kind, present in (("sticker", message.stickers), ("poll", message.poll),
                                         ("embed", message.embeds), ("forward", message.message_snapshots)) if present]
    return "+".join(dict.fromkeys(parts)) or "unknown"


def point_at(api_base_url: str | None, gateway_url: str | None) -> None:
    """Send discord.py's REST calls and gateway connection elsewhere (a proxy, or a stand-in in
    tests). discord.py keeps both as class attributes, so this applies to the whole process."""
    if api_base_url:
        discord.http.Route.BASE = api_base_url.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def invite_url(application_id: int) -> str:
    return discord.utils.oauth_url(application_id, permissions=PERMISSIONS, scopes=SCOPES)


class StudioClient(discord.Client):
    def __init__(self, front_end: DiscordFrontEnd) -> None:
        super().__init__(intents=INTENTS, max_messages=None, chunk_guilds_at_startup=False)
        self.front_end = front_end
        self.tree: app_commands.CommandTree[StudioClient] = app_commands.CommandTree(
            self, allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=False),
        )
        self.tree.on_error = front_end.on_command_error  # type: ignore[method-assign]

    async def setup_hook(self) -> None:
        await self.tree.set_translator(CatalogueTranslator())  # the commands' descriptions in each language
        self.add_dynamic_items(StudioButton)  # presses on any earlier message reach the core
        self.add_view(self.front_end.upload_window)  # so do submits of any upload window, also from before a restart

    async def on_interaction(self, interaction: Interaction) -> None:
        """Every interaction, after discord.py has routed it; a window's submit that nothing here
        serves (opened by an older version of the bot) still gets an answer, not silence."""
        submitted = interaction.type == discord.InteractionType.modal_submit
        if submitted and (interaction.data or {}).get("custom_id") != WINDOW_ID:
            await self.front_end.serve_lost_window(interaction)

    async def on_message(self, message: discord.Message) -> None:
        await self.front_end.serve_message(message)

    async def on_entitlement_create(self, entitlement: discord.Entitlement) -> None:
        await self.front_end.till.on_purchase(entitlement)

    async def on_entitlement_delete(self, entitlement: discord.Entitlement) -> None:
        await self.front_end.till.on_refund(entitlement)


class DiscordFrontEnd:
    def __init__(self, settings: Settings, studio: Studio, *, api_base_url: str | None = None,
                 gateway_url: str | None = None, connect_gateway: bool = True, poll_seconds: float = 1.0,
                 edit_interval_seconds: float = 3.0, delivery_retry_seconds: float | None = None) -> None:
        self.token = require_secret(settings, "discord_token", "the Discord bot")
        point_at(api_base_url, gateway_url)
        self.settings = settings
        self.studio = studio
        self.connect_gateway = connect_gateway
        self.client = StudioClient(self)
        self.tree = self.client.tree
        commands.register(self.tree, self)
        self.limits = UploadLimits()
        self.messenger = DiscordMessenger(self.client, self.limits)
        self.token_messages = TokenMessages()
        studio.connect(PlatformSeam(
            PLATFORM, edit=self.messenger.edit, retract=self.messenger.retract,
            retract_unrecorded=self.token_messages.take_back, post=self.post,
            answers_every_request=True,  # an unanswered interaction would vanish after "thinking…"
        ))
        watcher_options: dict[str, float] = {"poll_seconds": poll_seconds, "edit_interval_seconds": edit_interval_seconds}
        if delivery_retry_seconds is not None:
            watcher_options["delivery_retry_seconds"] = delivery_retry_seconds
        self.watcher = JobWatcher(studio, self.messenger, **watcher_options)
        self.till = StoreTill(settings, studio, self.client, self.messenger)
        self.max_file_bytes = studio.intake.max_file_bytes  # the photo check's own limit (decimal MB), not a second one
        self.turns = Turns()  # one user's uploads are checked in the order they were sent
        self.upload_window = UploadModal(self.serve_photos)  # serves submits from before a restart; each user sees their own

    # ------------------------------------------------------------------ lifecycle
    async def run(self, stop: asyncio.Event) -> None:
        """Log in, sync the commands, then serve until ``stop`` is set."""
        async with self.client:
            await self.client.login(self.token)
            await self.sync_commands()
            halt = asyncio.Event()
            watcher = asyncio.create_task(self.watcher.run(halt))
            reconciler = asyncio.create_task(self.till.reconcile()) if self.studio.selling(PLATFORM) else None
            waiters = [asyncio.create_task(stop.wait(), name="discord-stop")]
            if self.connect_gateway:
                waiters.append(asyncio.create_task(self.client.connect(), name="discord-gateway"))
            try:
                done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
            finally:
                halt.set()
                if reconciler is not None:
                    reconciler.cancel()
                    await asyncio.gather(reconciler, return_exceptions=True)
                for task in waiters:
                    task.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)
                await watcher
                await self.client.close()

    async def sync_commands(self) -> None:
        guild_id = self.settings.discord_guild_id
        if guild_id:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            where = f"to guild {guild_id} (development)"
        else:
            synced = await self.tree.sync()
            where = "globally (may take a while to show up)"
        me = self.client.user
        log.info(
            "Discord bot %s is up: %d slash commands synced %s. Invite it with %s — intents: direct messages only "
            "(none privileged; commands arrive as interactions, so discord.py's 'Guilds intent seems to be disabled' "
            "warning is expected); permissions: %s",
            me, len(synced), where, invite_url(self.client.application_id or 0),
            ", ".join(name for name, value in PERMISSIONS if value),
        )

    async def feed(self, payload: dict[str, Any]) -> None:
        """Hand a raw INTERACTION_CREATE payload to discord.py's own parser, as the gateway does
        (for running without the gateway, e.g. behind an HTTP interactions relay)."""
        self.client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ language
    @asynccontextmanager
    async def speaking_to(self, interaction: Interaction) -> AsyncIterator[Audience]:
        """What is said to the interaction's user inside this is said in their language (the core
        sets it again for what it says; this is for what the front end says by itself)."""
        with speaking(await audience_of(self.studio, user_of(interaction))) as audience:
            yield audience

    # ------------------------------------------------------------------ commands
    def replier(self, interaction: Interaction) -> Replier:
        return Replier(interaction, self.studio, self.messenger, self.limits, token_messages=self.token_messages,
                        backlog=self.till.undelivered)

    async def serve_command(self, interaction: Interaction, name: str, args: list[str] | None = None) -> None:
        replier = self.replier(interaction)
        await replier.defer()  # first: Discord waits 3 seconds
        async with self.speaking_to(interaction):
            await replier.send(await self.studio.command(replier.user, name, args or []))
            await replier.finish()

    async def serve_help(self, interaction: Interaction) -> None:
        replier = self.replier(interaction)
        await replier.defer()
        async with self.speaking_to(interaction):
            await replier.send([Reply(self.help_text())])
            await replier.finish()

    def help_text(self) -> str:
        """In the current audience's language."""
        head, _, tail = str(texts.HELP).partition("\n\n")
        return f"{head}\n{texts.HELP_BUY}\n\n{tail}" if self.studio.selling(PLATFORM) else str(texts.HELP)

    async def serve_action(self, interaction: Interaction, action: str, *, source: str = "") -> None:
        replier = self.replier(interaction)
        await replier.defer(answered=is_one_shot(action))
        async with self.speaking_to(interaction):
            await replier.send(await self.studio.action(replier.user, action,
                                                        source_message_id=source or str(interaction.id)))
            await replier.finish()

    async def serve_generate(self, interaction: Interaction, style_id: str, batches: int) -> None:
        """One job per batch; each batch is a separate request to the core (its credits, its limits)."""
        replier = self.replier(interaction)
        await replier.defer()
        async with self.speaking_to(interaction):
            for batch in range(batches):
                replies = await self.studio.action(replier.user, f"named:{style_id}",
                                                   source_message_id=f"{interaction.id}-{batch}")
                await replier.send(replies)
                if not all(reply.progress_of_job is not None for reply in replies):
                    break  # a refusal (credits, queue, unknown style): no point asking again
            await replier.finish()

    async def on_button(self, interaction: Interaction, action: str) -> None:
        try:
            if action == "add_more":  # a modal must be the first response: no defer before it
                await self.open_upload(interaction)
                return
            source = str(interaction.message.id) if interaction.message else str(interaction.id)
            await self.serve_action(interaction, action, source=source)
        except Exception as error:
            await self.apologise(interaction, error)

    # ------------------------------------------------------------------ photos
    async def open_upload(self, interaction: Interaction) -> None:
        if not await self.studio.has_consented(user_of(interaction)):
            # no upload window before the user has confirmed: they would pick photos to be refused
            replier = self.replier(interaction)
            await replier.defer()
            await replier.send(await self.studio.consent_first(user_of(interaction)))
            await replier.finish()
            return
        async with self.speaking_to(interaction):  # the window's title and labels in their language
            window = UploadModal(self.serve_photos)
        await interaction.response.send_modal(window)

    async def serve_lost_window(self, interaction: Interaction) -> None:
        """A submitted window the bot can't serve: say that its photos did not arrive and what to do."""
        try:
            count = len(files_in_submit(interaction.data))
            log.warning("discord:%s submitted an upload window this bot doesn't know (%s) with %d file(s); told "
                        "them to open /upload again", interaction.user.id, (interaction.data or {}).get("custom_id"), count)
            replier = self.replier(interaction)
            await replier.defer()
            async with self.speaking_to(interaction):
                photos = core_texts.PHOTO_COUNT(count) if count else core_texts.SOME_PHOTOS
                await replier.send([Reply(core_texts.UPLOAD_WINDOW_EXPIRED.format(photos=photos), private=True)])
                await replier.finish()
        except Exception as error:
            await self.apologise(interaction, error)

    async def serve_photos(self, interaction: Interaction, attachments: Sequence[discord.Attachment]) -> None:
        turn = self.turns.take(str(interaction.user.id))  # before the first await: the order they were sent in
        try:
            replier = self.replier(interaction)
            await replier.defer()
            async with self.speaking_to(interaction):
                await self._check_photos(replier, attachments, turn)
        finally:
            turn.release()

    async def _check_photos(self, replier: Replier, attachments: Sequence[discord.Attachment], turn: Turn) -> None:
        user = replier.user
        wanted, refused = [], []
        for attachment in list(attachments)[:MAX_FILES]:
            kind = unsupported_kind(attachment, self.max_file_bytes)
            (refused if kind else wanted).append((attachment, kind))
        for attachment, kind in refused:
            log.info("attachment %s from discord:%s refused: %s", attachment.filename, user.user_id, kind)
            if kind == "file_too_big":
                await replier.send([Reply(f"{attachment.filename}: {too_big_text(self.max_file_bytes)}", private=True)])
            else:
                await replier.send(await self.studio.unsupported(user, kind or ""))
        if wanted:
            if len(wanted) > BUSY_ALBUM:
                await replier.note(core_texts.PHOTOS_RECEIVED.format(count=len(wanted)))
            files = await download([attachment for attachment, _ in wanted])
            async with turn:  # checked after every earlier upload of theirs, never beside one
                await replier.send(await self.studio.photos(user, files))
        await replier.finish()

    # ------------------------------------------------------------------ messages
    async def post(self, user: UserRef, replies: list[Reply]) -> None:
        """Replies outside an interaction (a style painted from the gallery) to the user's channel."""
        for reply in replies:
            message_id = await self.messenger.send(user.chat_id, reply)
            if reply.progress_of_job is not None and message_id is not None:
                await self.studio.remember_progress_message(reply.progress_of_job, str(message_id))

    async def serve_message(self, message: discord.Message) -> None:
        """A direct message to the bot (a text, a selfie attached to a message, a sticker, a poll, a kind
        of message new to discord.py): the bot takes nothing that way, so the person is told what it
        takes, from where they are (the core's answer to a message it can't use: the styles once a model
        paints). Its own messages, other bots' and a pin or a call get none."""
        author = message.author
        if message.guild is not None or author.bot or author.system or author == self.client.user:
            return
        if message.type not in PERSON_SENT:
            return
        user = UserRef(PLATFORM, str(author.id), str(message.channel.id), author.display_name, "")
        log.info("discord:%s sent a direct message (%s); told them what I take", user.user_id, message_kind(message))
        # "send me selfies" can't be done by message here: /upload it is; and a DM flood past the rate
        # limit is told once per burst, not once per message (no interaction waits for an answer)
        with speaking(await audience_of(self.studio, user)):
            replies = await self.studio.text(user, "", expecting=texts.DIRECT_MESSAGE, answer_when_limited=False)
        try:
            for reply in replies:
                await self.messenger.send(user.chat_id, reply)
        except Unreachable as error:
            log.warning("could not answer discord:%s's direct message (%s)", user.user_id, error)

    async def serve_unknown_command(self, interaction: Interaction, name: str) -> None:
        """A command this bot doesn't have (a client that still shows one from an earlier sync)."""
        if interaction.type == discord.InteractionType.autocomplete:
            await interaction.response.autocomplete([])  # nothing to offer; no message may go there
            return
        log.info("discord:%s used /%s, which this bot doesn't have; showed the help", interaction.user.id, name[:32])
        replier = self.replier(interaction)
        await replier.defer()
        async with self.speaking_to(interaction):
            await replier.send([Reply(f"{core_texts.UNKNOWN_COMMAND.format(name=name[:32])}\n\n{self.help_text()}")])
            await replier.finish()

    # ------------------------------------------------------------------ choices
    async def style_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Styles whose title (in any language), id or category has what was typed; named in the
        user's language."""
        needle = current.strip().lower()
        found = [s for s in self.studio.catalogue
                 if not needle or any(needle in title.lower() for title in s.titles.values()) or needle in s.id
                 or needle in s.category]
        async with self.speaking_to(interaction):
            return [app_commands.Choice(name=f"{s.emoji} {s.title}".strip()[:100], value=s.id) for s in found[:25]]

    async def category_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        needle = current.strip().lower()
        found = [c for c in self.studio.catalogue.used_categories()
                 if not needle or any(needle in title.lower() for title in c.titles.values())]
        async with self.speaking_to(interaction):
            return [app_commands.Choice(name=f"{c.emoji} {c.title}".strip()[:100], value=c.id) for c in found[:25]]

    # ------------------------------------------------------------------ errors
    async def on_command_error(self, interaction: Interaction, error: app_commands.AppCommandError) -> None:
        if not isinstance(error, app_commands.CommandNotFound):
            await self.apologise(interaction, error)
            return
        try:
            await self.serve_unknown_command(interaction, error.name)
        except Exception as failure:
            await self.apologise(interaction, failure)

    async def apologise(self, interaction: Interaction, error: BaseException) -> None:
        """Every error gets an id, in the log and in the answer."""
        error_id = secrets.token_hex(4)
        log.error("error %s serving a Discord interaction from %s", error_id, interaction.user.id,
                  exc_info=error, extra={"error_id": error_id})
        with speaking(await audience_of(self.studio, user_of(interaction))):
            text = core_texts.APOLOGY.format(error_id=error_id)
        replier: Replier | None = interaction.extras.get("replier")
        try:
            if replier is not None and replier.waiting:
                await replier.note(text)  # instead of the "thinking…" that would otherwise dangle
            elif interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            log.warning("could not send the apology for error %s", error_id)
