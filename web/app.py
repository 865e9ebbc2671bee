"""The gallery: an ASGI app (Starlette) beside the bots, for the Telegram Mini App and for anyone
with a private link (``/gallery``). Server-rendered pages that read well on a phone before a single
image has arrived; the only script is the Mini App's own (Telegram's, and ours to log in with).

Every page under ``/g/<token>/`` checks the token's signature and expiry, then that the account row
it was issued for is still there (``web.identity.matches``): a ``/delete`` ends access at once.
Images are named by id and a MAC bound to the account (``object_ref``), never by a bare id.

Inside the Telegram Mini App the styles page also sells credits where Telegram sells them: a pack's
button asks the server for an invoice link (the very invoice the chat's /buy sends, made by the Bot
API's ``createInvoiceLink``) and Telegram's ``openInvoice`` shows it; the payment reaches the bot as
any other, which checks and credits it. A private link's holder buys in the chat.

Every page is said in its visitor's language (``web.texts``): the language they picked with
/language, else their Telegram app's (a Mini App's initData, carried in its link), else the one
stored on their account, else English; a page that knows no visitor (the front door, a refused
link) follows the browser's Accept-Language. Pages are never cached (``no-store``)."""

from __future__ import annotations

import logging
import math
import re
import secrets as random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.core import actions, shop
from bot.core import texts as chat_texts
from bot.core.replies import Invoice, Reply, UserRef
from bot.core.studio import Studio
from config.settings import CreditPack
from db.models import User
from db.users import find_user
from i18n import DEFAULT, Audience, Msg, number, percent, pick, speaking
from web import gallery, identity, texts
from web.identity import AccountPass, Refused

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js"

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' https://telegram.org",  # Telegram's Mini App script, on Mini App pages only
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'self' https://web.telegram.org",  # Telegram Web shows a Mini App in a frame
])
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # the token in the path never leaves in a Referer
]


COMMAND = re.compile(r"(?<![\w/])/[a-z]+\b")  # a bot command in a sentence ("Send /gallery …")


def browser_audience(accept_language: str | None) -> Audience:
    """The language of a page that knows no visitor: the first of the browser's Accept-Language
    (by preference) that the bot speaks, else English."""
    wanted: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "")[:512].split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and weight > 0:
            wanted.append((-weight, index, tag))
    for _, _, tag in sorted(wanted):
        if (language := pick(identity.language_tag(tag))) is not None:
            return Audience(language)
    return Audience(DEFAULT)


def html_lang(language: str) -> str:
    """A catalogue's code as HTML's lang attribute wants it (BCP 47): ``pt_BR`` → ``pt-BR``."""
    return language.replace("_", "-")


def said(sentence: object, **values: object) -> Markup:
    """A sentence for a page, in the current audience's language: escaped, its commands shown as
    code, its ``{names}`` filled with ``values`` (escaped, unless markup already: ``bold``)."""
    text = str(escape(str(sentence)))
    text = COMMAND.sub(lambda command: f"<code>{command.group()}</code>", text)
    return Markup(text).format(**values)


def bold(value: object) -> Markup:
    return Markup("<b>{}</b>").format(value)


def without_token(path: str) -> str:
    """A path fit for the log: a link's token is as good as a password while it lasts."""
    return re.sub(r"^/g/[^/]+/", "/g/<token>/", path)


class SecurityHeaders:
    """Every response, an error or a static file included, carries the policy headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {name for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((name, value) for name, value in SECURITY_HEADERS if name not in names)]
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        except Exception:
            # the unexpected: logged here, and answered here so that the answer carries the headers too
            log.exception("gallery: error serving %s", without_token(scope.get("path", "")))
            if started:
                raise
            audience = browser_audience(Headers(scope=scope).get("accept-language"))
            with speaking(audience):
                body = str(texts.SOMETHING_WRONG).encode()
            await with_headers({"type": "http.response.start", "status": 500,
                                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store"),
                                            (b"content-language", html_lang(audience.language).encode())]})
            await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class Visit:
    """A visitor of the account's pages: their pass, its account row, and how to speak to them."""

    found: AccountPass
    account: User
    audience: Audience

    @property
    def user(self) -> UserRef:
        return user_of(self.found, self.account)


def user_of(found: AccountPass, account: User) -> UserRef:
    """A link's holder as the core knows them: a Mini App's language is their app's, as a chat's
    update has it; a private link carries none (their account's language is spoken)."""
    return UserRef(found.platform, found.user_id, found.chat_id, account.display_name, found.language)


class Gallery:
    def __init__(self, studio: Studio, secret: bytes, *, bot_token: str | None, link_seconds: float,
                 init_data_max_age: int, public_url: str = "") -> None:
        self.studio = studio
        self._bot: Any = None  # the Bot API client that makes invoice links (telegram.Bot), made when first needed
        self.public_url = public_url.rstrip("/")
        self.secret = secret
        self.bot_token = bot_token
        self.link_seconds = link_seconds
        self.init_data_max_age = init_data_max_age
        self.templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                                     autoescape=select_autoescape(default=True, default_for_string=True))
        # the sentences are said when a page is rendered, in the language ``page`` speaks
        # ``t``: the gallery's sentences; ``chat``: the bot's, where a page says what the chat says (buying credits)
        self.templates.globals.update(t=texts, chat=chat_texts, said=said, bold=bold, number=number, percent=percent,
                                      telegram_script=TELEGRAM_SCRIPT)

    # ------------------------------------------------------------------ plumbing
    def page(self, name: str, audience: Audience, status_code: int = 200, **values: Any) -> HTMLResponse:
        """A page said in ``audience``'s language; never kept by a cache (it is one visitor's, in their language)."""
        with speaking(audience):
            html = self.templates.get_template(name).render(lang=html_lang(audience.language), **values)
        return HTMLResponse(html, status_code, headers={"cache-control": "no-store",
                                                        "content-language": html_lang(audience.language),
                                                        "vary": "Accept-Language"})

    def refused(self, request: Request, status_code: int = 401, audience: Audience | None = None) -> HTMLResponse:
        """A link that does not open (401), or nothing at this address (404): in the visitor's language
        where they are known, else the browser's."""
        if audience is None:
            audience = browser_audience(request.headers.get("accept-language"))
        return self.page("refused.html", audience, status_code, gone=status_code == 404)

    def error(self, request: Request, sentence: Msg, status_code: int) -> JSONResponse:
        """An answer to the Mini App's script, which shows its ``error`` as it is."""
        with speaking(browser_audience(request.headers.get("accept-language"))):
            return JSONResponse({"error": str(sentence)}, status_code, headers={"cache-control": "no-store"})

    def answer(self, audience: Audience, sentence: Msg | str, status_code: int) -> JSONResponse:
        """An error for the page's script, said to a visitor it knows (in their language)."""
        with speaking(audience):
            return JSONResponse({"error": str(sentence)}, status_code, headers={"cache-control": "no-store"})

    async def holder(self, request: Request) -> tuple[AccountPass, User] | tuple[None, None]:
        """The pass in the URL and its account row, both still good; (None, None): refused."""
        try:
            found = identity.read(self.secret, request.path_params["token"])
        except Refused as why:
            log.info("gallery: refused a link (%s)", why)
            return None, None
        async with self.studio.database.read() as session:
            account = await find_user(session, found.platform, found.user_id)
        if account is None or not identity.matches(found, account):
            return None, None
        return found, account

    async def visitor(self, request: Request) -> Visit | None:
        """The holder of the link (``holder``) and how to speak to them, for a page; None: refused."""
        found, account = await self.holder(request)
        if found is None or account is None:
            return None
        return Visit(found, account, await self.studio.audience_of(user_of(found, account)))

    def ref(self, found: AccountPass, image_id: int) -> str:
        return identity.object_ref(self.secret, found, "image", image_id)

    def link(self, token: str, path: str = "") -> str:
        return f"/g/{token}/{path}"

    # ------------------------------------------------------------------ entry
    async def home(self, request: Request) -> Response:
        return self.page("home.html", browser_audience(request.headers.get("accept-language")))

    async def mini_app(self, request: Request) -> Response:
        """The Mini App's first page, before Telegram's initData says who opened it: the browser's language."""
        return self.page("mini_app.html", browser_audience(request.headers.get("accept-language")), mini_app=True)

    async def mini_app_session(self, request: Request) -> Response:
        """The Mini App's initData in, a link to the account's gallery out (its pages in the language of
        the user's Telegram app, where they picked none with /language)."""
        if self.bot_token is None:
            return self.error(request, texts.NO_MINI_APP, 404)
        try:
            body = await request.json()
            visitor = identity.validate_init_data(str(body.get("init_data", "")), self.bot_token,
                                                  max_age_seconds=self.init_data_max_age)
        except (Refused, ValueError, AttributeError) as why:
            log.info("gallery: refused Mini App initData (%s)", why)
            return self.error(request, texts.NOT_VOUCHED, 401)
        async with self.studio.database.read() as session:
            account = await find_user(session, "telegram", visitor.user_id)
        if account is None:
            user = UserRef("telegram", visitor.user_id, visitor.user_id, visitor.first_name, visitor.language_code)
            with speaking(await self.studio.audience_of(user)):
                return JSONResponse({"error": str(texts.START_FIRST)}, 404, headers={"cache-control": "no-store"})
        token = identity.issue(self.secret, account, visitor.user_id, lifetime_seconds=self.link_seconds, mini_app=True,
                               language=visitor.language_code)
        return JSONResponse({"url": self.link(token)})

    async def sample(self, request: Request) -> Response:
        style_id = request.path_params["style_id"]
        path = self.studio.catalogue.sample(style_id) if style_id in self.studio.catalogue else None
        if path is None:
            return self.refused(request, 404)
        return FileResponse(path, headers={"cache-control": "public, max-age=86400"})

    # ------------------------------------------------------------------ pages
    async def styles(self, request: Request) -> Response:
        visit = await self.visitor(request)
        if visit is None:
            return self.refused(request)
        async with self.studio.database.read() as session:
            about = await gallery.summary(session, visit.account)
        catalogue = self.studio.catalogue
        groups = [(category, catalogue.in_category(category.id)) for category in catalogue.used_categories()]
        with speaking(visit.audience):  # the styles' and categories' titles follow it
            return self.page("styles.html", visit.audience, found=visit.found, token=request.path_params["token"],
                             summary=about, model=texts.model_state(about.model, about.likeness), groups=groups,
                             samples=catalogue.samples, nonce=random.token_hex(8),
                             notice=request.query_params.get("n", ""), packs=self.packs_for(visit.found),
                             buy_in_chat=self.buys_in_chat(visit.found))

    async def paint(self, request: Request) -> Response:
        """"Paint this": the chat's style button, through the core (credits, idempotency, the queue
        limit, rate limits); a double tap (the same form's nonce) queues one job."""
        visit = await self.visitor(request)
        if visit is None:
            return self.refused(request)
        token = request.path_params["token"]
        style_id = request.path_params["style_id"]
        form = await request.form()
        nonce = str(form.get("nonce", ""))
        if style_id not in self.studio.catalogue or not (nonce.isascii() and nonce.isalnum() and 8 <= len(nonce) <= 32):
            return self.refused(request, 404, visit.audience)
        user = visit.user  # the core answers in the visitor's language too
        replies = await self.studio.action(user, actions.style(style_id), source_message_id=f"web-{nonce}")
        queued = any(reply.progress_of_job is not None for reply in replies) or not replies
        if queued:
            await self.tell_the_chat(user, [r for r in replies if r.progress_of_job is not None])
            return RedirectResponse(self.link(token, "?n=queued"), 303)
        return self.page("said.html", visit.audience, found=visit.found, token=token,
                         lines=[r.text for r in replies if r.text])

    # ------------------------------------------------------------------ buying credits (the Mini App)
    def packs_for(self, found: AccountPass) -> list[CreditPack]:
        """The packs a visitor may buy from the page: a Mini App's, where Telegram sells credits, unless
        the account may not buy; none for a private link (its holder buys in the chat, with /buy)."""
        settings = self.studio.settings
        if not found.mini_app or found.platform != "telegram" or self.bot_token is None:
            return []
        if settings.is_banned(found.platform, found.user_id):
            return []
        return [pack for pack in shop.packs_on(settings, "telegram") if pack.stars]

    def buys_in_chat(self, found: AccountPass) -> bool:
        """A private link's holder (no Mini App to open an invoice in) is told where to buy: in the chat,
        where their platform sells credits (Telegram's invoices, Discord's store)."""
        settings = self.studio.settings
        return (not found.mini_app and bool(shop.packs_on(settings, found.platform))
                and not settings.is_banned(found.platform, found.user_id))

    async def buy(self, request: Request) -> Response:
        """A pack's button in the Mini App: the invoice the chat's /buy sends for that pack (its payload
        names the pack and the buyer: the bot's pre-checkout holds the payment to both), as a link
        Telegram's ``openInvoice`` shows. JSON: ``{"link": ...}``, or ``{"error": sentence}``."""
        visit = await self.visitor(request)
        if visit is None:
            with speaking(browser_audience(request.headers.get("accept-language"))):
                return JSONResponse({"error": str(texts.LINK_GONE)}, 401, headers={"cache-control": "no-store"})
        found, settings = visit.found, self.studio.settings
        if not found.mini_app or found.platform != "telegram":
            return self.answer(visit.audience, texts.OPEN_FROM_TELEGRAM, 403)  # a private link: /buy in the chat
        on_sale = shop.packs_on(settings, "telegram")
        if not on_sale or self.bot_token is None:
            return self.answer(visit.audience, chat_texts.NOT_SELLING, 403)
        if settings.is_banned(found.platform, found.user_id):
            return self.answer(visit.audience, chat_texts.NOT_SOLD_TO_YOU, 403)
        pack = next((p for p in on_sale if p.id == request.path_params["pack_id"] and p.stars), None)
        if pack is None:
            return self.answer(visit.audience, chat_texts.CHECKOUT_REFUSED[shop.CheckoutRefusal.unknown_pack], 404)
        key = f"{found.platform}:{found.user_id}"  # a flood of taps is a flood of commands
        if not self.studio.limiter.allow(key):
            wait = max(1, math.ceil(self.studio.limiter.retry_after(key)))
            with speaking(visit.audience):
                return self.answer(visit.audience, chat_texts.RATE_LIMITED_AGAIN.format(seconds=wait), 429)
        with speaking(visit.audience):  # the invoice in the buyer's language, as the chat's
            invoice = shop.invoice_for(pack, found.user_id, settings)
        try:
            link = await self.invoice_link(invoice)
        except Exception:
            log.warning("gallery: the Bot API made no invoice link for %s (pack %s)", key, pack.id, exc_info=True)
            return self.answer(visit.audience, texts.SOMETHING_WRONG, 502)
        log.info("gallery: invoice link for %s, pack %s", key, pack.id)
        return JSONResponse({"link": link}, headers={"cache-control": "no-store"})

    async def invoice_link(self, invoice: Invoice) -> str:
        """The Bot API's link to ``invoice`` (Telegram Stars: no provider token, one price)."""
        from telegram import LabeledPrice

        bot = await self.telegram_bot()
        return await bot.create_invoice_link(invoice.title, invoice.description, invoice.payload,
                                             currency=invoice.currency, prices=[LabeledPrice(invoice.label, invoice.amount)])

    async def telegram_bot(self) -> Any:
        """The bot's Bot API client (STUDIO_TELEGRAM_BASE_URL's server where set), made once."""
        if self._bot is None:
            from telegram import Bot

            assert self.bot_token is not None
            base_url = self.studio.settings.telegram_base_url
            self._bot = Bot(self.bot_token, **({"base_url": base_url} if base_url else {}))
        await self._bot.initialize()  # once; again after a failed start
        return self._bot

    async def close(self) -> None:
        """Lets go of the Bot API client, if one was made."""
        bot, self._bot = self._bot, None
        if bot is not None:
            await bot.shutdown()

    async def credits(self, request: Request) -> Response:
        """The balance as the page shows it (``{"credits": "1,250"}``), for the page's script to show a
        purchase once the bot has credited it."""
        visit = await self.visitor(request)
        if visit is None:
            with speaking(browser_audience(request.headers.get("accept-language"))):
                return JSONResponse({"error": str(texts.LINK_GONE)}, 401, headers={"cache-control": "no-store"})
        with speaking(visit.audience):
            return JSONResponse({"credits": number(visit.account.credits)}, headers={"cache-control": "no-store"})

    async def tell_the_chat(self, user: UserRef, progress: list[Reply]) -> None:
        """The job's progress message (with its Cancel) in the chat where its portraits arrive, as a tap
        there would have posted it; nothing where no front end of that platform runs in this process
        (``studio web`` alone): the portraits still arrive there."""
        post = self.studio.seam(user.platform).post
        if post is None or not progress:
            return
        try:
            await post(user, progress)
        except Exception:  # the job is queued all the same; its album still comes
            log.warning("could not post the progress of a gallery job to %s:%s", user.platform, user.user_id,
                        exc_info=True)

    async def portraits(self, request: Request) -> Response:
        visit = await self.visitor(request)
        if visit is None:
            return self.refused(request)
        found = visit.found
        with speaking(visit.audience):  # the groups' style titles follow it
            async with self.studio.database.read() as session:
                groups = await gallery.portraits(session, visit.account.id, self.studio.catalogue)
            return self.page("portraits.html", visit.audience, found=found, token=request.path_params["token"],
                             groups=groups, ref=lambda image_id: self.ref(found, image_id),
                             count=sum(len(group.portraits) for group in groups))

    async def image(self, request: Request) -> Response:
        return await self._image(request, thumb=False)

    async def thumb(self, request: Request) -> Response:
        return await self._image(request, thumb=True)

    async def _image(self, request: Request, *, thumb: bool) -> Response:
        found, account = await self.holder(request)
        if found is None or account is None:
            return self.refused(request)
        image_id = identity.read_object_ref(self.secret, found, "image", request.path_params["ref"])
        if image_id is None:
            return self.refused(request, 404)
        async with self.studio.database.read() as session:
            image = await gallery.own_image(session, account.id, image_id)
        if image is None:
            return self.refused(request, 404)
        try:
            if thumb:
                data, kind = await gallery.thumbnail(self.studio.storage, image), "image/webp"
                return Response(data, media_type=kind, headers={"cache-control": "private, max-age=3600"})
            data = await self.studio.storage.get(image.storage_key)
        except gallery.ObjectNotFound:
            return self.refused(request, 404)
        except gallery.NotAnImage:
            log.warning("gallery: stored portrait %s is no image a thumbnail can be made of", image.id)
            return self.refused(request, 404)
        headers = {"cache-control": "private, max-age=3600"}
        if request.query_params.get("download"):
            headers["content-disposition"] = f'attachment; filename="{gallery.download_name(image)}"'
        return Response(data, media_type=gallery.CONTENT_TYPES.get(gallery.extension(image.storage_key),
                                                                   "application/octet-stream"), headers=headers)

    async def archive(self, request: Request) -> Response:
        _, account = await self.holder(request)
        if account is None:
            return self.refused(request)
        async with self.studio.database.read() as session:
            data = await gallery.archive(session, self.studio.storage, account.id)
        return Response(data, media_type="application/zip", headers={
            "content-disposition": 'attachment; filename="portraits.zip"', "cache-control": "no-store"})

    # ------------------------------------------------------------------ links for the bot
    async def link_for(self, user: UserRef) -> str | None:
        """A private link to the user's gallery (None: no account yet); absolute with STUDIO_WEB_URL."""
        async with self.studio.database.read() as session:
            account = await find_user(session, user.platform, user.user_id)
        if account is None:
            return None
        return self.public_url + self.link(identity.issue(self.secret, account, user.chat_id,
                                                          lifetime_seconds=self.link_seconds))


def create_app(studio: Studio, *, secret: str | bytes, bot_token: str | None = None,
               link_seconds: float = 24 * 3600, init_data_max_age: int = 86400, public_url: str = "") -> Starlette:
    key = secret.encode() if isinstance(secret, str) else secret
    if len(key) < 16:
        raise ValueError("the gallery's secret must have 16 characters or more")
    site = Gallery(studio, key, bot_token=bot_token, link_seconds=link_seconds, init_data_max_age=init_data_max_age,
                   public_url=public_url)
    routes = [
        Route("/", site.home),
        Route("/app", site.mini_app),
        Route("/app/session", site.mini_app_session, methods=["POST"]),
        Route("/samples/{style_id}", site.sample),
        Route("/g/{token}/", site.styles),
        Route("/g/{token}/paint/{style_id}", site.paint, methods=["POST"]),
        Route("/g/{token}/buy/{pack_id}", site.buy, methods=["POST"]),
        Route("/g/{token}/credits", site.credits),
        Route("/g/{token}/portraits", site.portraits),
        Route("/g/{token}/portraits.zip", site.archive),
        Route("/g/{token}/image/{ref}", site.image),
        Route("/g/{token}/thumb/{ref}", site.thumb),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return site.refused(request, 404)

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.gallery = site
    app.add_middleware(SecurityHeaders)
    return app


def gallery_of(app: Starlette) -> Gallery:
    return app.state.gallery

