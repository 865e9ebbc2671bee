"""Render platform-neutral replies as Telegram messages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from telegram import (Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaDocument, InputMediaPhoto, LabeledPrice,
                      WebAppInfo)
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden

from bot.core.messenger import Unreachable
from bot.core.replies import Button, Reply

log = logging.getLogger(__name__)

ALBUM_LIMIT = 10  # sendMediaGroup takes 2–10 items
CAPTION_LIMIT = 1024
TEXT_LIMIT = 4096


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([[telegram_button(b) for b in row] for row in reply.buttons])


def telegram_button(button: Button) -> InlineKeyboardButton:
    if button.mini_app:
        return InlineKeyboardButton(button.label, web_app=WebAppInfo(button.mini_app))
    if button.url:
        return InlineKeyboardButton(button.label, url=button.url)
    return InlineKeyboardButton(button.label, callback_data=button.action)


def _chunks(items: tuple, size: int) -> list[tuple]:
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    if len(chunks) > 1 and len(chunks[-1]) == 1:  # an album needs two items: borrow one
        chunks[-1] = (chunks[-2][-1], *chunks[-1])
        chunks[-2] = chunks[-2][:-1]
    return chunks


@contextmanager
def _reaching(chat_id: str) -> Iterator[None]:
    """Telegram's answers for a chat the bot can't write to for good, as ``Unreachable``."""
    try:
        yield
    except Forbidden as error:  # "bot was blocked by the user", "user is deactivated", kicked from a group
        raise Unreachable(f"telegram chat {chat_id}: {error}") from error
    except BadRequest as error:
        if "chat not found" in str(error).lower():
            raise Unreachable(f"telegram chat {chat_id}: {error}") from error
        raise


class TelegramMessenger:
    platform = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        with _reaching(chat_id):
            return await self._send(chat_id, reply)

    async def _send(self, chat_id: str, reply: Reply) -> str | None:
        message_id = await self._post(chat_id, reply)
        if reply.typing:  # after the message: a message arriving clears the chat's "typing…"
            await self.bot.send_chat_action(chat_id, ChatAction.TYPING)
        return message_id

    async def _post(self, chat_id: str, reply: Reply) -> str | None:
        if reply.illustration is not None:
            # One message where it fits: the picture with the text as its caption and the buttons under it.
            alone = not (reply.album or reply.documents or reply.invoice) and len(reply.text) <= CAPTION_LIMIT
            picture = reply.illustration
            try:
                sent = await self.bot.send_photo(chat_id, picture.data, filename=picture.filename,
                                                 caption=reply.text if alone else picture.caption[:CAPTION_LIMIT],
                                                 reply_markup=keyboard(reply) if alone else None)
                if alone:
                    return str(sent.message_id)
            except BadRequest as error:  # e.g. PHOTO_INVALID_DIMENSIONS: the text and buttons go without it
                if "chat not found" in str(error).lower():
                    raise
                log.warning("an illustration was refused in %s (%s); the message goes without it", chat_id, error)
        if reply.album:
            await self.bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO)
            for chunk in _chunks(reply.album, ALBUM_LIMIT):
                if len(chunk) == 1:
                    await self.bot.send_photo(chat_id, chunk[0].data, caption=chunk[0].caption[:CAPTION_LIMIT],
                                              filename=chunk[0].filename)
                    continue
                await self.bot.send_media_group(chat_id, [
                    InputMediaPhoto(p.data, caption=p.caption[:CAPTION_LIMIT], filename=p.filename) for p in chunk
                ])
        if reply.documents:
            await self.bot.send_chat_action(chat_id, ChatAction.UPLOAD_DOCUMENT)
            for chunk in _chunks(reply.documents, ALBUM_LIMIT):
                if len(chunk) == 1:
                    await self.bot.send_document(chat_id, chunk[0].data, filename=chunk[0].filename,
                                                 caption=chunk[0].caption[:CAPTION_LIMIT], disable_content_type_detection=True)
                    continue
                await self.bot.send_media_group(chat_id, [
                    InputMediaDocument(d.data, caption=d.caption[:CAPTION_LIMIT], filename=d.filename,
                                       disable_content_type_detection=True) for d in chunk
                ])
        message_id = None
        if reply.text:
            message = await self.bot.send_message(chat_id, reply.text[:TEXT_LIMIT], reply_markup=keyboard(reply))
            message_id = str(message.message_id)
        if reply.invoice is not None:  # digital goods are sold for Stars: no provider token
            invoice = reply.invoice
            await self.bot.send_invoice(chat_id, invoice.title, invoice.description, invoice.payload,
                                        invoice.currency, [LabeledPrice(invoice.label, invoice.amount)])
        return message_id

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        try:
            await self.bot.edit_message_text(reply.text[:TEXT_LIMIT], chat_id=chat_id, message_id=int(message_id),
                                             reply_markup=keyboard(reply))
        except BadRequest as error:
            if "not modified" not in str(error).lower():
                raise
