"""Selling through Discord's store: a consumable SKU's entitlement becomes its pack's credits once,
then is consumed; the start-up pass over unconsumed entitlements; a refund (the entitlement
deleted) takes the credits back. The decisions are the core's (bot/core/shop.py, Studio.paid)."""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.core import texts as core_texts
from bot.core.messenger import Messenger
from bot.core.replies import Button, Reply, UserRef
from bot.core.shop import pack_by_sku, packs_on
from bot.core.studio import Studio
from bot.discord.replier import PLATFORM, audience_of
from db import held_notices
from db.payments import Charge
from config.settings import Settings
from i18n import speaking

log = logging.getLogger(__name__)


class StoreTill:
    def __init__(self, settings: Settings, studio: Studio, client: discord.Client, messenger: Messenger) -> None:
        self.settings = settings
        self.studio = studio
        self.client = client
        self.messenger = messenger
        self._holders: set[str] = set()  # Discord user ids that may have held notices
        self._holders_read = False  # those of earlier runs are read from the database at the first interaction
        self._announced: set[int] = set()  # entitlements of unsold SKUs already announced (ids)

    async def on_purchase(self, entitlement: discord.Entitlement) -> None:
        """A consumable SKU was bought: its credits once per entitlement, then the entitlement is
        consumed (credited first: one consumed but not credited would be lost; one credited but not
        consumed is consumed by the next reconciliation, without crediting it again). Only this
        application's entitlements are ours to credit (an SKU id alone does not say whose it is)."""
        ours = self.client.application_id
        if ours is not None and entitlement.application_id != ours:
            log.warning("entitlement %s (SKU %s, user %s) belongs to another application (%s, not %s): not credited",
                        entitlement.id, entitlement.sku_id, entitlement.user_id, entitlement.application_id, ours)
            return
        pack = pack_by_sku(self.settings, entitlement.sku_id)
        if pack is None or entitlement.user_id is None:
            log.error("entitlement %s for SKU %s (user %s): no credit pack has that SKU; left unconsumed until one does",
                      entitlement.id, entitlement.sku_id, entitlement.user_id)
            await self._not_sold(entitlement)
            return
        buyer = UserRef(PLATFORM, str(entitlement.user_id), "")
        charge = Charge(PLATFORM, str(entitlement.id), buyer.user_id, pack.id, pack.credits)
        replies = await self.studio.paid(buyer, charge, price=core_texts.PRICE_DISCORD)
        try:
            await entitlement.consume()
        except discord.HTTPException as error:  # consumed already, or Discord down: the next start tries again
            log.warning("entitlement %s credited but not consumed (%s)", entitlement.id, error)
        if replies:
            await self._tell(buyer, replies)

    async def on_refund(self, entitlement: discord.Entitlement) -> None:
        """Discord deletes an entitlement it refunded: its credits go (what is left of them), once."""
        if entitlement.user_id is None:
            return
        buyer = UserRef(PLATFORM, str(entitlement.user_id), "")
        await self._tell(buyer, await self.studio.refunded(buyer, str(entitlement.id)))

    async def reconcile(self) -> None:
        """At start: purchases made while the bot was down (not consumed yet) are credited and consumed."""
        skus = [discord.Object(id=pack.discord_sku_id) for pack in packs_on(self.settings, PLATFORM)
                if pack.discord_sku_id is not None]
        found = 0
        try:
            async for entitlement in self.client.entitlements(limit=None, skus=skus, exclude_ended=True):
                if not entitlement.consumed and not entitlement.deleted:
                    found += 1
                    await self.on_purchase(entitlement)
        except discord.HTTPException as error:
            log.warning("could not list the entitlements (%s); purchases are credited as they arrive", error)
            return
        if found:
            log.warning("reconciled %d Discord purchase(s) made while the bot was away", found)

    async def _not_sold(self, entitlement: discord.Entitlement) -> None:
        """A purchase of an SKU no pack has (e.g. a pack dropped from the settings while still in the
        store): the buyer and the admins on Discord hear of it, once per entitlement. It stays
        unconsumed, so Discord can refund it; the start-up pass lists only the packs' SKUs, so a
        restart does not announce it again."""
        if entitlement.id in self._announced or entitlement.user_id is None:
            return
        self._announced.add(entitlement.id)
        buyer = UserRef(PLATFORM, str(entitlement.user_id), "")
        with speaking(await audience_of(self.studio, buyer)):  # each in their own language
            contact = self.settings.payment_support or str(core_texts.PAY_SUPPORT_CONTACT)
            told = Reply(core_texts.PURCHASE_NOT_SOLD.format(charge=entitlement.id, contact=contact), private=True)
        await self._tell(buyer, [told])
        for admin in self.settings.admins:
            platform, _, admin_id = admin.partition(":")
            if platform == PLATFORM and admin_id.isdigit():
                someone = UserRef(PLATFORM, admin_id, "")
                with speaking(await audience_of(self.studio, someone)):
                    alert = Reply(core_texts.ADMIN_PURCHASE_NOT_SOLD.format(charge=entitlement.id,
                                                                            user_id=entitlement.user_id,
                                                                            sku=entitlement.sku_id))
                await self._tell(someone, [alert])

    async def undelivered(self, user_id: str) -> list[Reply]:
        """The notices that could not reach this user's DMs, taken: their next interaction shows
        them (held in the database: a restart in between does not lose them)."""
        if not self._holders_read:
            async with self.studio.database.transaction() as session:
                self._holders |= await held_notices.holders(session, PLATFORM)
            self._holders_read = True
        if user_id not in self._holders:
            return []
        async with self.studio.database.transaction() as session:
            bodies = await held_notices.take(session, PLATFORM, user_id)
        self._holders.discard(user_id)
        replies = []
        for body in bodies:
            try:
                replies.append(_reply(body))
            except (KeyError, TypeError, ValueError):
                log.error("a held notice for discord:%s could not be read and is dropped: %r", user_id, body)
        return replies

    async def _tell(self, buyer: UserRef, replies: list[Reply]) -> None:
        """A receipt in the buyer's DMs (a purchase comes without an interaction to answer); where
        the DMs are closed (or Discord fails), it waits for the buyer's next interaction instead."""
        if not replies:
            return
        left = list(replies)
        try:
            channel = await self.client.create_dm(discord.Object(id=int(buyer.user_id)))
            while left:
                await self.messenger.send(str(channel.id), left[0])
                left.pop(0)
        except Exception:
            log.warning("could not send discord:%s their receipt; it comes with their next interaction", buyer.user_id,
                        exc_info=True)
            try:
                async with self.studio.database.transaction() as session:
                    await held_notices.hold(session, PLATFORM, buyer.user_id, [_body(reply) for reply in left])
            except Exception:  # the credits are in the ledger all the same; /credits shows them
                log.error("could not hold the receipt for discord:%s either; it is lost: %s", buyer.user_id,
                          " | ".join(reply.text for reply in left), exc_info=True)
                return
            self._holders.add(buyer.user_id)


def _body(reply: Reply) -> dict[str, Any]:
    """What a held notice keeps of a reply: its text and buttons (receipts have no pictures)."""
    return {"text": reply.text, "buttons": [[[b.label, b.action, b.sku_id, b.url] for b in row] for row in reply.buttons]}


def _reply(body: dict[str, Any]) -> Reply:
    """A held notice as shown: only to its owner (ephemeral where it comes with a server command)."""
    # a notice held before links were kept has three fields a button
    buttons = tuple(tuple(Button(*fields) for fields in row) for row in body["buttons"])
    return Reply(body["text"], buttons, private=True)
