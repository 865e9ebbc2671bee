"""Updates are processed per user in order, users at once, and a pre-checkout query at once: a
payment is never failed by Telegram's 10 seconds because someone else's photos are being checked."""

from __future__ import annotations

import time

from tests.support.selfies import obama_selfies
from tests.telegram.conftest import agree
from tests.telegram.test_payments import PACKS, open_invoice

ALEX, BEA = 501, 502


def photo_answers(telegram) -> list[str]:
    return [text for text in telegram.texts_to(ALEX) if text.startswith("Got ")]


async def test_a_pre_checkout_does_not_wait_behind_another_users_photos(bot_factory) -> None:
    async with bot_factory(credit_packs=PACKS) as bot:
        telegram = bot.telegram
        invoice = await open_invoice(telegram, user_id=BEA)
        await agree(telegram, ALEX)
        photos = obama_selfies(8)
        for data in photos:  # single photos, each checked (seconds of CPU) before it is answered
            await telegram.send_photo(ALEX, data)
        started = time.monotonic()
        query = await telegram.pre_checkout(BEA, invoice, name="Bea")
        answer = await telegram.checkout_answer(query, timeout=30)
        waited = time.monotonic() - started
        assert answer["ok"] and not answer["late"]
        assert len(photo_answers(telegram)) < len(photos), "the pre-checkout waited for Alex's photos"
        await telegram.wait_for(lambda m: len(photo_answers(telegram)) == len(photos), timeout=120,
                                what="an answer to each photo")
        assert waited < 5
        # Alex's own updates kept their order: each answer counts one more photo than the one before
        counts = [int(text.split("\n")[1].split()[0]) for text in photo_answers(telegram)[:-1]]
        assert counts == list(range(1, len(photos))), photo_answers(telegram)
