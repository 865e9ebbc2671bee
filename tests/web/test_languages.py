"""The gallery in its visitor's language: a Mini App's Telegram language, the language an account
picked with /language (also through a private link), the browser's for a page that knows no
visitor, and English for a language the bot does not speak; ``<html lang>`` says which."""

from __future__ import annotations

import gettext
import json
import re
import time
from pathlib import Path

import httpx
import pytest

from bot.core.studio import Studio
from db.users import set_languages
from i18n import Audience, percent, speaking
from tests.core.conftest import ALEX, SAM, agreed, make_studio, studio, with_model  # noqa: F401 (fixtures)
from tests.web.conftest import SECRET, account_id, client, link, painted  # noqa: F401
from tests.web.test_identity import telegram_init_data
from web import identity, texts
from web.app import browser_audience, html_lang

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"

#: what the styles page says of itself (a user with a model, credits, nothing painting)
STYLES_PAGE = [texts.STYLES, texts.MY_PORTRAITS, texts.PAINT_THIS]


class StandIn(gettext.NullTranslations):
    """A language's catalogue where a sentence it does not translate yet (the translators fill in
    the gallery's after it is written) is said marked with the language's code: a page said from
    the wrong catalogue, or in none, can't pass for one said in the right one."""

    def __init__(self, real: gettext.NullTranslations, code: str) -> None:
        super().__init__()
        self.real, self.code = real, code

    def gettext(self, message: str) -> str:
        said = self.real.gettext(message)
        return said if said != message else f"[{self.code}] {message}"

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        said = self.real.ngettext(singular, plural, n)
        return said if said not in (singular, plural) else f"[{self.code}] {said}"

    def pgettext(self, context: str, message: str) -> str:
        said = self.real.pgettext(context, message)
        return said if said != message else f"[{self.code}] {message}"


@pytest.fixture(autouse=True)
def catalogues(monkeypatch: pytest.MonkeyPatch) -> None:
    from i18n import message
    from i18n.catalogues import translations

    monkeypatch.setattr(message, "translations",
                        lambda code: translations(code) if code == "en" else StandIn(translations(code), code))


def said(language: str, sentence: object) -> str:
    with speaking(Audience(language)):
        return str(sentence)


def escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("'", "&#39;")


def init_data(user_id: str, language_code: str | None) -> str:
    user = {"id": int(user_id), "first_name": "Alex"} | ({"language_code": language_code} if language_code else {})
    return telegram_init_data({"query_id": "AAHdF6IQAAAAAN0XohDhrOrc", "auth_date": str(int(time.time())),
                               "user": json.dumps(user, separators=(",", ":"))})


async def mini_app_link(http: httpx.AsyncClient, user_id: str, language_code: str | None) -> str:
    answer = await http.post("/app/session", json={"init_data": init_data(user_id, language_code)})
    assert answer.status_code == 200, answer.text
    return answer.json()["url"]


async def test_a_russian_mini_app_user_sees_the_styles_in_russian(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await with_model(studio)
    answer = await client.get(await mini_app_link(client, ALEX.user_id, "ru"))
    page = answer.text
    assert answer.status_code == 200 and '<html lang="ru">' in page and answer.headers["content-language"] == "ru"
    for sentence in STYLES_PAGE:
        russian = said("ru", sentence)
        assert russian != said("en", sentence) and escaped(russian) in page, sentence
    assert ">Paint this</button>" not in page
    assert page.count(f">{escaped(said('ru', texts.PAINT_THIS))}</button>") == len(studio.catalogue)
    with speaking(Audience("ru")):
        credits = texts.CREDITS.format(credits="<b>3</b>")
        model = texts.MODEL.format(state=f"<b>{said('ru', texts.MODEL_READY)}")  # then its likeness
    assert credits in page and model in page
    for style in studio.catalogue:  # the styles' own titles and descriptions, from their files
        with speaking(Audience("ru")):
            title, description = style.title, style.description
        assert title != style.english_title and escaped(title) in page and escaped(style.english_title) not in page
        assert escaped(description) in page
    for category in studio.catalogue.used_categories():  # "Instagram" is Instagram in Russian too
        with speaking(Audience("ru")):
            assert escaped(category.title) in page and category.title == category.titles.get("ru", category.english_title)


async def test_the_mini_app_user_s_portraits_and_the_core_s_answers_are_russian_too(
        studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await with_model(studio)
    await painted(studio, count=1, aspects=("4:5",), likeness=88)
    home = await mini_app_link(client, ALEX.user_id, "ru")
    page = (await client.get(f"{home}portraits")).text
    with speaking(Audience("ru")):
        likeness = texts.LIKENESS.format(likeness=percent(88))
        download = texts.DOWNLOAD_ALL.format(count="1")
    assert '<html lang="ru">' in page and "88\xa0%" in likeness and escaped(likeness) in page
    assert escaped(download) in page and escaped(said("ru", texts.MY_PORTRAITS)) in page
    nothing = await client.post(f"{home}paint/no-such-style", data={"nonce": "abcdef0123456789"})
    assert nothing.status_code == 404 and escaped(said("ru", texts.NOT_HERE)) in nothing.text


async def test_what_the_core_answers_a_russian_mini_app_user_is_russian(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await agreed(studio)  # no model yet: "Paint this" is answered with what the chat would say
    english = (await client.post(f"{await link(client)}paint/dating-profile", data={"nonce": "abcdef0123456789"})).text
    home = await mini_app_link(client, ALEX.user_id, "ru")
    answer = await client.post(f"{home}paint/dating-profile", data={"nonce": "abcdef0123456780"})
    assert answer.status_code == 200 and '<html lang="ru">' in answer.text
    assert escaped(said("ru", texts.BACK_TO_STYLES)) in answer.text
    core = re.findall(r'<p class="said">(.*?)</p>', answer.text, re.S)
    assert core and core != re.findall(r'<p class="said">(.*?)</p>', english, re.S) and "selfies" in english


async def test_a_private_link_follows_the_language_the_account_picked(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await with_model(studio)
    async with studio.database.transaction() as session:
        await set_languages(session, await account_id(studio, ALEX), chosen="de")  # users.chosen_language = "de"
    studio.ctx.audiences.forget(ALEX)  # as /language does after a pick
    answer = await client.get(await link(client))  # a private link carries no language: the account's
    assert '<html lang="de">' in answer.text and answer.headers["content-language"] == "de"
    for sentence in STYLES_PAGE:
        assert escaped(said("de", sentence)) in answer.text and said("de", sentence) != said("en", sentence)
    for style in studio.catalogue:
        with speaking(Audience("de")):
            assert escaped(style.title) in answer.text
    # the pick beats the Mini App's Telegram language too
    russian_app = await client.get(await mini_app_link(client, ALEX.user_id, "ru"))
    assert '<html lang="de">' in russian_app.text and escaped(said("de", texts.PAINT_THIS)) in russian_app.text


async def test_a_language_the_bot_does_not_speak_is_english(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await with_model(studio)
    await with_model(studio, SAM)
    for user, code in ((ALEX, "ja"), (SAM, None)):
        page = (await client.get(await mini_app_link(client, user.user_id, code))).text
        assert '<html lang="en">' in page and page.count(">Paint this</button>") == len(studio.catalogue)
        assert "[" not in re.sub(r"<[^>]+>", "", page)  # nothing said from another catalogue
        for style in studio.catalogue:
            assert escaped(style.english_title) in page


async def test_a_brazilian_app_reads_portuguese(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await with_model(studio)
    page = (await client.get(await mini_app_link(client, ALEX.user_id, "pt-br"))).text
    assert '<html lang="pt-BR">' in page and escaped(said("pt_BR", texts.PAINT_THIS)) in page


async def test_a_stranger_in_the_mini_app_is_told_in_their_language(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    answer = await client.post("/app/session", json={"init_data": init_data("999", "fr")})
    assert answer.status_code == 404 and answer.json()["error"] == said("fr", texts.START_FIRST)
    refused = await client.post("/app/session", json={"init_data": "forged"}, headers={"accept-language": "es-ES,es;q=0.9"})
    assert refused.status_code == 401 and refused.json()["error"] == said("es", texts.NOT_VOUCHED)


async def test_pages_that_know_no_visitor_follow_the_browser(client: httpx.AsyncClient) -> None:  # noqa: F811
    refused = await client.get("/g/garbage/", headers={"accept-language": "ru-RU,ru;q=0.9,en;q=0.8"})
    assert refused.status_code == 401 and '<html lang="ru">' in refused.text
    assert escaped(said("ru", texts.LINK_GONE)) in refused.text and refused.headers["cache-control"] == "no-store"
    shell = (await client.get("/app", headers={"accept-language": "de"})).text
    assert '<html lang="de">' in shell and f'data-unreachable="{escaped(said("de", texts.UNREACHABLE))}"' in shell
    front = (await client.get("/")).text
    assert '<html lang="en">' in front and "Send <code>/gallery</code> to the bot" in front


def test_the_browser_s_first_language_the_bot_speaks_wins() -> None:
    assert browser_audience("de-CH, ru;q=0.8") == Audience("de")
    assert browser_audience("ru;q=0.5, fr;q=0.9, *;q=0.1") == Audience("fr")
    assert browser_audience("ja, zh;q=0.5") == Audience("en")
    assert browser_audience("en-US, ru;q=0.9") == Audience("en")
    assert browser_audience("pt-PT;q=0.7, x;q=oops") == Audience("pt_BR")
    assert browser_audience(None) == browser_audience("") == browser_audience("<script>") == Audience("en")
    assert html_lang("pt_BR") == "pt-BR" and html_lang("ru") == "ru"


def test_a_mini_app_link_carries_its_language_and_older_links_still_open() -> None:
    from tests.web.test_identity import account

    key = SECRET.encode()
    found = identity.read(key, identity.issue(key, account(), "501", lifetime_seconds=60, mini_app=True, language="ru"))
    assert found.mini_app and found.language == "ru"
    plain = identity.issue(key, account(), "501", lifetime_seconds=60)
    assert identity.read(key, plain).language == ""
    body = json.loads(identity._unb64(plain.split(".")[0]))
    assert len(body) == 7  # a link without a language is as a link was before languages
    odd = identity.read(key, identity.issue(key, account(), "501", lifetime_seconds=60, language='ru"><script>'))
    assert odd.language == ""
    visitor = identity.validate_init_data(init_data("501", "uk"), "123456:AAE-test-token-for-the-gallery-0123456789",
                                          max_age_seconds=60)
    assert visitor.language_code == "uk"


def test_every_sentence_a_template_names_is_declared() -> None:
    named = {name for path in TEMPLATES.glob("*.html") for name in re.findall(r"\bt\.([A-Z_]+)\b", path.read_text())}
    assert named and all(hasattr(texts, name) for name in named), sorted(n for n in named if not hasattr(texts, n))
    declared = {name for name in dir(texts) if name.isupper() and name != "MODEL_STATES"}
    shown_by_code = {"LIKENESS", "MODEL_READY", "MODEL_TRAINING", "MODEL_FAILED", "MODEL_NONE", "NO_MINI_APP",
                     "NOT_VOUCHED", "START_FIRST", "SOMETHING_WRONG"}
    assert declared - named - shown_by_code == set()


def test_no_template_says_english_by_itself() -> None:
    """Text between tags is a sentence of ``web.texts``, a value, or punctuation; never English written in."""
    for path in TEMPLATES.glob("*.html"):
        text = re.sub(r"{%.*?%}|{{.*?}}|<[^>]+>", " ", path.read_text(), flags=re.S)
        assert not re.search(r"[A-Za-z]{2,}", text), (path.name, text.split())
