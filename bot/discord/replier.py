"""Answering one interaction: defer within Discord's 3 seconds, then follow up through the
interaction token (only ever within these few seconds). Progress messages are posted in the
channel by the bot instead, so the job watcher can edit them for as long as the job runs.

Privacy: outside a DM, everything said in answer to a user is ephemeral (verdicts, balance,
errors, pickers); only progress messages and the finished results appear in the channel."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import discord

from bot.core.messenger import Messenger, Unreachable
from bot.core.replies import Reply, UserRef
from bot.core.studio import Studio
from bot.discord import texts
from bot.discord.files import DEFAULT_UPLOAD_LIMIT
from bot.discord.render import TEXT_LIMIT, UploadLimits, plan, without_illustration_if_refused
from bot.discord.token_messages import TokenMessages
from bot.discord.views import view_of
from i18n import Audience

log = logging.getLogger(__name__)

PLATFORM = "discord"


def user_of(interaction: discord.Interaction[Any]) -> UserRef:
    user = interaction.user
    return UserRef(PLATFORM, str(user.id), str(interaction.channel_id), user.display_name, str(interaction.locale))


async def audience_of(studio: Studio, user: UserRef) -> Audience:
    return await studio.audience_of(user)


def is_private_chat(interaction: discord.Interaction[Any]) -> bool:
    return interaction.guild_id is None and isinstance(interaction.channel, discord.DMChannel)


def can_post_here(interaction: discord.Interaction[Any]) -> bool:
    """Whether the bot itself may post in this channel (it may not where it is only user-installed
    or the channel is closed to it): progress and results need that, the token does not. In a
    thread that takes SEND_MESSAGES_IN_THREADS; SEND_MESSAGES does not cover threads."""
    if interaction.guild_id is None:
        return True
    allowed = interaction.app_permissions
    may_send = allowed.send_messages_in_threads if isinstance(interaction.channel, discord.Thread) else allowed.send_messages
    return allowed.view_channel and may_send and allowed.attach_files


def bot_upload_limit(interaction: discord.Interaction[Any]) -> int:
    """The most the bot may upload in one message here. ``interaction.filesize_limit`` is the larger
    of the user's Nitro limit and the server's boost tier; the bot has no Nitro, so it gets the
    server's tier (10 MiB unless discord.py knows the server is boosted) and 10 MiB in DMs."""
    guild = interaction.guild
    own = guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT
    return min(own, interaction.filesize_limit or own)


class Replier:
    def __init__(self, interaction: discord.Interaction[Any], studio: Studio, messenger: Messenger,
                 limits: UploadLimits, *, token_messages: TokenMessages | None = None,
                 backlog: Callable[[str], Awaitable[list[Reply]]] | None = None) -> None:
        """``backlog``: the user's notices that found no other way to them (a receipt where their
        DMs are closed), taken when this interaction is first answered and shown before the answer."""
        self.interaction = interaction
        self.token_messages = token_messages
        self.studio = studio
        self.messenger = messenger
        self.limits = limits
        self.backlog = backlog
        self.user = user_of(interaction)
        self.ephemeral = not is_private_chat(interaction)
        self._placeholder = False  # a "thinking…" response waiting for its first answer
        self._to_dms = False  # the bot can't post here: progress and results go to the user's DMs
        interaction.extras["replier"] = self  # an error's apology takes the placeholder's place too
        self.upload_limit = bot_upload_limit(interaction)
        limits.remember(self.user.chat_id, self.upload_limit)

    async def defer(self, *, answered: bool = False) -> None:
        """Acknowledge within Discord's 3 seconds; ``answered``: the pressed button answered its
        message's question, whose buttons go."""
        response = self.interaction.response
        if response.is_done():
            return
        if self.interaction.type == discord.InteractionType.component:
            if answered:
                await response.edit_message(view=None)  # acknowledges the press and takes the answered question's buttons
            else:
                await response.defer()  # acknowledges the press; answers come as new messages
        else:
            await response.defer(ephemeral=self.ephemeral, thinking=True)
            self._placeholder = True
        if not can_post_here(self.interaction):  # progress and results go to the user's DMs instead
            dm = await self.interaction.user.create_dm()
            log.info("discord:%s: the bot can't post in channel %s; using DM channel %s",
                     self.user.user_id, self.user.chat_id, dm.id)
            self.user = replace(self.user, chat_id=str(dm.id))
            self._to_dms = True
            self.limits.remember(self.user.chat_id, DEFAULT_UPLOAD_LIMIT)  # a DM has no server boosts

    @property
    def waiting(self) -> bool:
        """Whether the deferred "thinking…" response still waits for its answer."""
        return self._placeholder

    async def note(self, text: str) -> None:
        """Replace the "thinking…" placeholder with a short status line (e.g. "checking 10 photos")."""
        if self._placeholder:
            await self.interaction.edit_original_response(content=text[:TEXT_LIMIT])
            self._placeholder = False
        else:
            await self.interaction.followup.send(text[:TEXT_LIMIT], ephemeral=self.ephemeral, wait=True)

    async def send(self, replies: list[Reply]) -> None:
        if self.backlog is not None:
            backlog, self.backlog = self.backlog, None
            try:
                replies = [*await backlog(self.user.user_id), *replies]
            except Exception:  # the answer itself must not be lost to a notice that waits anyway
                log.warning("could not read the notices held for discord:%s; they wait for a later interaction",
                            self.user.user_id, exc_info=True)
        for reply in replies:
            if reply.progress_of_job is not None:
                await self._progress(reply)
            else:
                await self._follow_up(reply)

    async def finish(self) -> None:
        """Never leave a dangling "thinking…": remove it when every answer went to the channel."""
        if self._placeholder:
            self._placeholder = False
            try:
                await self.interaction.delete_original_response()
            except discord.HTTPException:
                log.warning("could not remove the deferred response of interaction %s", self.interaction.id)

    async def _progress(self, reply: Reply) -> None:
        reply = replace(reply, addressee=self.user.user_id)  # in a server channel it names whose job it is
        try:
            message_id = await self.messenger.send(self.user.chat_id, reply)
        except Unreachable as error:  # e.g. no posting here and DMs closed: nobody would see the job's end
            log.warning("discord:%s: nowhere to post progress and results (%s)", self.user.user_id, error)
            await self._follow_up(Reply(texts.NOWHERE_TO_POST, private=True))
            if reply.progress_of_job is not None:
                await self.send(await self.studio.action(self.user, f"cancel:{reply.progress_of_job}"))
            return
        if message_id is not None and reply.progress_of_job is not None:
            await self.studio.remember_progress_message(reply.progress_of_job, message_id)
        if self._to_dms:  # said once, here, where the user is looking
            self._to_dms = False
            await self._follow_up(Reply(texts.PROGRESS_IN_DMS, private=True))
        elif self.ephemeral:  # a server channel: its members see what is posted here, not only the user
            await self._follow_up(Reply(texts.PROGRESS_IN_CHANNEL, private=True))

    async def _follow_up(self, reply: Reply) -> None:
        messages = await asyncio.to_thread(plan, reply, self.upload_limit)
        for message in messages:
            view = view_of(reply) if message.with_buttons else None

            async def post(files: list[discord.File]) -> Any:
                if self._placeholder:
                    # The first answer takes the "thinking…" message's place by editing it: Discord
                    # deprecated letting the first follow-up replace it.
                    sent = await self.interaction.edit_original_response(
                        content=message.content or None, attachments=files or discord.utils.MISSING,
                        view=view or discord.utils.MISSING)
                    self._placeholder = False
                    return sent
                options: dict[str, Any] = {"ephemeral": self.ephemeral, "wait": True}
                if files:
                    options["files"] = files
                if view is not None:
                    options["view"] = view
                return await self.interaction.followup.send(message.content or discord.utils.MISSING, **options)

            sent = await without_illustration_if_refused(message, post)
            if sent is not None and message.uploads and not message.decorative:
                await self._remember(sent)  # the user's pictures: /delete takes them back

    async def _remember(self, sent: Any) -> None:
        """In a DM the message is the bot's own, deletable through the channel at any time; an ephemeral
        one only through the interaction's token, for the 15 minutes it lives."""
        if not self.ephemeral:
            await self.studio.remember_posted(self.user, str(self.interaction.channel_id), str(sent.id))
        elif self.token_messages is not None:
            self.token_messages.remember(self.user.user_id, sent)
