from __future__ import annotations

from bot.core.studio import Studio
from db import payments
from tests.core.conftest import ALEX, actions_of, agreed, text_of

PACKS = "small:10:250"


async def test_credits_shows_the_balance_and_buy_where_the_platform_sells(make_studio) -> None:  # type: ignore[no-untyped-def]
    selling: Studio = make_studio(credit_packs=PACKS)
    reply = await selling.command(ALEX, "credits")
    assert "You have 3 credits" in text_of(reply) and actions_of(reply) == ["buy"]
    assert actions_of(await make_studio().command(ALEX, "credits")) == []


async def test_buy_offers_an_invoice_per_pack_in_stars(make_studio) -> None:  # type: ignore[no-untyped-def]
    selling: Studio = make_studio(credit_packs=PACKS)
    replies = await selling.command(ALEX, "buy")
    invoices = [r.invoice for r in replies if r.invoice is not None]
    assert len(invoices) == 1 and invoices[0].amount == 250


async def test_a_payment_is_credited_once_with_one_receipt(make_studio) -> None:  # type: ignore[no-untyped-def]
    selling: Studio = make_studio(credit_packs=PACKS)
    await agreed(selling)
    charge = payments.Charge(platform="telegram", external_id="ch-1", platform_user_id=ALEX.user_id, pack_id="small",
                             credits=10, amount=250, currency="XTR")
    receipt = await selling.paid(ALEX, charge)
    assert "13 credits" in text_of(receipt)
    assert await selling.paid(ALEX, charge) == []  # delivered again: no second credit, no second receipt
    assert "You have 13 credits" in text_of(await selling.command(ALEX, "credits"))


async def test_a_pack_that_is_not_for_sale_is_refused_at_checkout(make_studio) -> None:  # type: ignore[no-untyped-def]
    selling: Studio = make_studio(credit_packs=PACKS)
    assert selling.pre_checkout(ALEX, "forged", "XTR", 1) is not None
