"""Several ``/upload``s sent in quick succession are checked one after another, in the order the
user sent them: the first copy of a photo is the one kept, and the running count only goes up."""

from __future__ import annotations

from typing import Any

from tests.discord.helpers import agree, attach
from tests.support.discord_server import FakeDiscord
from tests.support.selfies import obama_selfies

ALEX = 501


def verdict(discord: FakeDiscord, payload: dict[str, Any]) -> str:
    """The photo verdicts answering one ``/upload`` ("" while there are none yet)."""
    return next((m.content for m in discord.answers_to(payload) if m.content.startswith("Got ")), "")


async def test_quick_uploads_are_checked_in_the_order_they_were_sent(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory():
        await agree(discord, ALEX)
        photos = obama_selfies(7)
        # an album of six, then at once a second copy of its first photo, then a new seventh photo
        sent = [discord.command_payload(ALEX, "upload", **attach(discord, photos[:6])),
                discord.command_payload(ALEX, "upload", **attach(discord, photos[:1])),
                discord.command_payload(ALEX, "upload", **attach(discord, photos[6:7]))]
        for payload in sent:
            await discord.dispatch(payload)
        await discord.wait_until(lambda: all(verdict(discord, p) for p in sent), 120, "a verdict on every upload",
                                 details=lambda: [verdict(discord, p) for p in sent])
        album, copy, seventh = (verdict(discord, p) for p in sent)
        assert album.startswith("Got 6 photos — 6 look great ✅"), album
        assert "6 of 8 good photos so far" in album
        assert copy.startswith("Got your photo, but I can't use it:"), copy
        assert "almost the same as one you already sent" in copy
        assert seventh.startswith("Got your photo — looks great ✅"), seventh
        assert "7 of 8 good photos so far" in seventh
        assert not discord.dangling()


async def test_an_upload_dropped_before_its_turn_does_not_let_a_later_one_pass_an_earlier_one() -> None:
    """Upload 2 has nothing to check (all its files refused) and lets go before upload 1 is done:
    upload 3 still waits for upload 1."""
    import asyncio

    from bot.discord.turns import Turns

    turns = Turns()
    first, second, third = turns.take("alex"), turns.take("alex"), turns.take("alex")
    order: list[str] = []
    await first.__aenter__()
    second.release()

    async def upload_three() -> None:
        async with third:
            order.append("three")

    three = asyncio.create_task(upload_three())
    await asyncio.sleep(0.05)
    order.append("one")  # the first upload's check ends only now
    first.release()
    await asyncio.wait_for(three, 5)
    assert order == ["one", "three"]
