"""Buying credits in the Telegram Mini App: the styles page shows a button per pack Telegram sells, and
a tap gets the link of the very invoice the chat's /buy sends (made by the Bot API's createInvoiceLink,
here the stand-in Bot API on 127.0.0.1); a private link's holder buys in the chat instead."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bot.core import shop
from bot.core import texts as chat_texts
from bot.core.replies import UserRef
from bot.core.studio import Studio
from i18n import Audience, speaking
from tests.core.conftest import ALEX, SAM, agreed, make_studio, with_model  # noqa: F401 (fixtures)
from tests.support import telegram_server
from tests.web.conftest import BOT_TOKEN, SECRET, link
from tests.web.test_languages import init_data
from web import identity, texts
from web.app import create_app, gallery_of

PACKS = "small:10:250,big:50:1000,store:5::1234567890123"  # the last one sold in Discord's store only


class FakeTelegram(telegram_server.FakeTelegram):
    """The stand-in Bot API, making invoice links as Telegram does (the same checks as sendInvoice's)."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.invoice_links: list[dict[str, Any]] = []

    async def _m_createInvoiceLink(self, params: dict[str, Any]) -> str:
        title, description, payload = params.get("title", ""), params.get("description", ""), params.get("payload", "")
        currency, prices = params.get("currency", ""), params.get("prices") or []
        if not 1 <= len(title) <= 32:
            raise telegram_server._ApiError("Bad Request: INVOICE_TITLE_INVALID")
        if not 1 <= len(description) <= 255:
            raise telegram_server._ApiError("Bad Request: INVOICE_DESCRIPTION_INVALID")
        if not 1 <= len(payload.encode()) <= 128:
            raise telegram_server._ApiError("Bad Request: INVOICE_PAYLOAD_INVALID")
        if currency != "XTR" or params.get("provider_token") or len(prices) != 1 or int(prices[0]["amount"]) <= 0:
            raise telegram_server._ApiError("Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
        self.invoice_links.append(params)
        return f"https://t.me/$invoice{len(self.invoice_links)}"


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(BOT_TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def shop_front(make_studio: Callable[..., Studio], telegram: FakeTelegram) -> Callable[..., Any]:  # noqa: F811
    """A studio with these settings (credit packs by default) and its gallery, which talks to the stand-in Bot API."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def make(**settings: Any) -> AsyncIterator[tuple[Studio, httpx.AsyncClient]]:
        studio = make_studio(**({"credit_packs": PACKS, "telegram_base_url": telegram.base_url} | settings))
        app = create_app(studio, secret=SECRET, bot_token=BOT_TOKEN)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gallery") as http:
                http.app = app  # type: ignore[attr-defined]
                yield studio, http
        finally:
            await gallery_of(app).close()

    return make


async def mini_app(http: httpx.AsyncClient, user: UserRef = ALEX, language: str | None = "en") -> str:
    answer = await http.post("/app/session", json={"init_data": init_data(user.user_id, language)})
    assert answer.status_code == 200, answer.text
    return answer.json()["url"]


def pack_buttons(page: str) -> dict[str, str]:
    return dict(re.findall(r'<button type="button" class="pack" data-pack="([a-z0-9_-]+)">([^<]*)</button>', page))


def said(language: str, sentence: object) -> str:
    with speaking(Audience(language)):
        return str(sentence)


async def test_a_mini_app_session_sees_a_button_per_pack_telegram_sells(shop_front: Any) -> None:
    async with shop_front() as (studio, http):
        await with_model(studio)
        page = (await http.get(await mini_app(http))).text
        assert "💳 Buy credits" in page and '<script src="/static/buy.js"></script>' in page
        assert pack_buttons(page) == {"small": "10 credits · 250 ⭐", "big": "50 credits · 1,000 ⭐"}  # not the store's
        assert "Credits: <b>3</b>" in page and 'id="buy-status"' in page
        russian = (await http.get(await mini_app(http, language="ru"))).text
        with speaking(Audience("ru")):
            small = f"{chat_texts.CREDIT_COUNT(10)} · {chat_texts.PRICE_STARS.format(stars='250')}"
            heading = str(chat_texts.BUTTON_BUY)
        assert pack_buttons(russian)["small"] == small and small != "10 credits · 250 ⭐" and heading in russian


async def test_a_tap_gets_the_link_of_the_chats_invoice_in_the_users_language(
        shop_front: Any, telegram: FakeTelegram) -> None:
    async with shop_front() as (studio, http):
        await with_model(studio)
        home = await mini_app(http, language="ru")
        answer = await http.post(f"{home}buy/big")
        assert answer.status_code == 200 and answer.json() == {"link": "https://t.me/$invoice1"}
        assert answer.headers["cache-control"] == "no-store"
        [made] = telegram.invoice_links
        ordered = shop.InvoicePayload.decode(made["payload"])
        assert ordered == shop.InvoicePayload("big", 50, 1000, ALEX.user_id)
        with speaking(Audience("ru")):
            title = chat_texts.INVOICE_TITLE.format(credits=chat_texts.CREDIT_COUNT(50))
        assert made["title"] == title and title != "50 credits"
        assert made["currency"] == "XTR" and not made.get("provider_token")
        # the same invoice as the chat's /buy sends the same user (a Russian Telegram app)
        replies = await studio.command(UserRef("telegram", ALEX.user_id, ALEX.chat_id, "Alex", "ru"), "buy")
        chat = next(reply.invoice for reply in replies if reply.invoice is not None and reply.invoice.amount == 1000)
        assert (made["title"], made["description"], made["payload"], made["currency"]) == (
            chat.title, chat.description, chat.payload, chat.currency)
        assert made["prices"] == [{"label": chat.label, "amount": chat.amount}]
        # and the bot takes the payment of it: the buyer's own, for the pack as it is on sale
        assert shop.checkout_refusal(studio.settings, "telegram", ALEX.user_id, made["payload"], "XTR", 1000) is None
        assert shop.checkout_refusal(studio.settings, "telegram", SAM.user_id, made["payload"], "XTR", 1000) \
            == shop.CheckoutRefusal.not_the_buyer


async def test_a_private_link_buys_in_the_chat(shop_front: Any, telegram: FakeTelegram) -> None:
    async with shop_front() as (studio, http):
        await with_model(studio)
        home = await link(http)
        page = (await http.get(home)).text
        assert pack_buttons(page) == {} and "buy.js" not in page and "Buy credits" not in page
        assert 'id="buy-in-chat"' in page and "<code>/buy</code>" in page  # where to buy instead
        refused = await http.post(f"{home}buy/small")
        assert refused.status_code == 403 and refused.json() == {"error": str(texts.OPEN_FROM_TELEGRAM)}
        assert telegram.invoice_links == [] and not any(method == "createInvoiceLink" for method, _ in telegram.calls)


async def test_an_unknown_pack_is_refused(shop_front: Any, telegram: FakeTelegram) -> None:
    async with shop_front() as (studio, http):
        await with_model(studio)
        home = await mini_app(http, language="de")
        for pack in ("huge", "store", "SMALL", "small%3Abig"):  # "store" is sold in Discord's store only
            answer = await http.post(f"{home}buy/{pack}")
            assert answer.status_code == 404, pack
            assert answer.json() == {"error": said("de", chat_texts.CHECKOUT_REFUSED["unknown_pack"])}
        assert telegram.invoice_links == []


async def test_where_nothing_is_on_sale_there_is_nothing_to_buy(shop_front: Any, telegram: FakeTelegram) -> None:
    async with shop_front(credit_packs="store:5::1234567890123") as (studio, http):  # Discord's store only
        await with_model(studio)
        home = await mini_app(http)
        page = (await http.get(home)).text
        assert pack_buttons(page) == {} and "buy.js" not in page and "Buy credits" not in page
        assert 'id="buy-in-chat"' not in page  # a Mini App visitor is not sent to the chat to buy
        refused = await http.post(f"{home}buy/store")
        assert refused.status_code == 403 and refused.json() == {"error": str(chat_texts.NOT_SELLING)}
    async with shop_front(credit_packs="") as (studio, http):
        await with_model(studio)
        home = await mini_app(http)
        assert pack_buttons((await http.get(home)).text) == {}
        assert (await http.post(f"{home}buy/small")).status_code == 403
    assert telegram.invoice_links == []


async def test_an_account_barred_from_buying_sees_no_packs(shop_front: Any, telegram: FakeTelegram) -> None:
    async with shop_front(banned_users=f"telegram:{ALEX.user_id}") as (studio, http):
        await agreed(studio)
        home = await mini_app(http)
        assert pack_buttons((await http.get(home)).text) == {}
        refused = await http.post(f"{home}buy/small")
        assert refused.status_code == 403 and refused.json() == {"error": str(chat_texts.NOT_SOLD_TO_YOU)}
        assert telegram.invoice_links == []


async def test_a_bot_api_failure_is_said_on_the_page(shop_front: Any, telegram: FakeTelegram) -> None:
    async with shop_front() as (studio, http):
        await with_model(studio)
        home = await mini_app(http, language="fr")
        telegram.fail_once("createInvoiceLink", description="Bad Request: something")
        failed = await http.post(f"{home}buy/small")
        assert failed.status_code == 502 and failed.json() == {"error": said("fr", texts.SOMETHING_WRONG)}
        again = await http.post(f"{home}buy/small")  # the next tap works
        assert again.status_code == 200 and again.json()["link"].startswith("https://t.me/$")


async def test_the_bot_api_is_out_of_reach(shop_front: Any, telegram: FakeTelegram) -> None:
    async with shop_front(telegram_base_url="http://127.0.0.1:9/bot") as (studio, http):  # nothing listens there
        await with_model(studio)
        failed = await http.post(f"{await mini_app(http)}buy/small")
        assert failed.status_code == 502 and failed.json() == {"error": str(texts.SOMETHING_WRONG)}


async def test_a_flood_of_taps_is_limited(shop_front: Any, telegram: FakeTelegram) -> None:
    async with shop_front(commands_per_minute=3) as (studio, http):
        await with_model(studio)  # /start and the consent: 2 commands of the 3
        home = await mini_app(http)
        assert (await http.post(f"{home}buy/small")).status_code == 200
        limited = await http.post(f"{home}buy/small")
        assert limited.status_code == 429 and "try again in" in limited.json()["error"]
        assert len(telegram.invoice_links) == 1


async def test_links_that_do_not_open_are_refused(shop_front: Any, telegram: FakeTelegram) -> None:
    async with shop_front() as (studio, http):
        await with_model(studio)
        home = await mini_app(http)
        found = identity.read(SECRET.encode(), home.split("/")[2])
        async with studio.database.read() as session:
            from db.users import find_user

            account = await find_user(session, "telegram", ALEX.user_id)
        expired = identity.issue(SECRET.encode(), account, ALEX.chat_id, lifetime_seconds=60, now=time.time() - 120,
                                 mini_app=True)
        assert found.mini_app
        for token in (expired, "garbage"):
            answer = await http.post(f"/g/{token}/buy/small")
            assert answer.status_code == 401 and answer.json() == {"error": str(texts.LINK_GONE)}
        await studio.delete_everything(ALEX)
        assert (await http.post(f"{home}buy/small")).status_code == 401
        assert telegram.invoice_links == []


async def test_the_page_reads_the_balance_again(shop_front: Any) -> None:
    async with shop_front() as (studio, http):
        await with_model(studio)
        home = await mini_app(http, language="de")
        assert (await http.get(f"{home}credits")).json() == {"credits": "3"}
        from sqlalchemy import update

        from db.models import User

        async with studio.database.transaction() as session:
            await session.execute(update(User).where(User.platform_user_id == ALEX.user_id).values(credits=1253))
        answer = await http.get(f"{home}credits")
        assert answer.json() == {"credits": "1.253"} and answer.headers["cache-control"] == "no-store"  # German digits
        assert (await http.get("/g/garbage/credits")).status_code == 401
