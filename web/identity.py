"""Who is looking at the gallery: a Telegram Mini App's initData, checked exactly as Telegram
documents it ("Validating data received via the Mini App"), or a private link the bot handed out
(``/gallery``), signed with ``STUDIO_WEB_SECRET``.

A pass (``AccountPass``) names the platform account, the chat where portraits arrive, and the
account *row* it was issued for: its id and its creation time. A ``/delete`` removes the row, so a
link issued before it names nothing any more, also when the same person starts again (their new
row has another id and another creation time). A Mini App's pass also carries the language of
the user's Telegram app, which its pages speak where the user picked none with /language."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from db.models import User


class Refused(Exception):
    """Not a valid identity (forged, tampered with, expired): the request gets 401."""


# ---------------------------------------------------------------------------------- Telegram


#: a client's language tag as Telegram (``pt-br``) or a browser (``de-CH``) gives it; anything else is no language
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}")


def language_tag(value: object) -> str:
    """``value`` when it reads as a language tag (what the gallery carries on to choose the language
    of its pages), else ""."""
    return value if isinstance(value, str) and len(value) <= 35 and LANGUAGE_TAG.fullmatch(value) else ""


@dataclass(frozen=True)
class TelegramVisitor:
    user_id: str
    first_name: str
    auth_date: int
    language_code: str = ""  # the user's Telegram app language (initData's user.language_code); "" if none


def data_check_string(fields: dict[str, str]) -> str:
    """Every field but ``hash``, sorted by key, as ``key=value`` lines."""
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def init_data_hash(fields: dict[str, str], bot_token: str) -> str:
    """hex(HMAC_SHA256(key=HMAC_SHA256(key="WebAppData", msg=bot_token), msg=data_check_string))."""
    secret_key = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    return hmac.new(secret_key, data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def validate_init_data(init_data: str, bot_token: str, *, max_age_seconds: int, now: float | None = None) -> TelegramVisitor:
    """The Mini App's user, when ``init_data`` (the query string Telegram.WebApp.initData) was signed
    with this bot's token and is at most ``max_age_seconds`` old; else ``Refused``."""
    if not init_data or len(init_data) > 8192:
        raise Refused("no initData")
    pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=False)
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise Refused("a field given twice")
    given = fields.get("hash", "")
    if not given or not hmac.compare_digest(init_data_hash(fields, bot_token), given.lower()):
        raise Refused("initData hash does not match")
    try:
        auth_date = int(fields.get("auth_date", ""))
    except ValueError:
        raise Refused("no auth_date") from None
    now = time.time() if now is None else now
    if now - auth_date > max_age_seconds or auth_date - now > 300:
        raise Refused("initData is too old")
    try:
        user = json.loads(fields.get("user", ""))
        user_id = str(int(user["id"]))
    except (ValueError, KeyError, TypeError):
        raise Refused("initData names no user") from None
    return TelegramVisitor(user_id, str(user.get("first_name", ""))[:64], auth_date,
                           language_tag(user.get("language_code")))


# ---------------------------------------------------------------------------------- signed links


@dataclass(frozen=True)
class AccountPass:
    platform: str
    user_id: str  # the platform's account id
    chat_id: str  # where portraits painted from the gallery arrive
    account_id: int  # the row it was issued for ...
    created_us: int  # ... and that row's creation time: ids alone may name a later account
    expires: int  # unix seconds
    mini_app: bool = False  # opened inside Telegram: pages load Telegram's script (theme, back button)
    language: str = ""  # the Mini App's language (Telegram's language_code); "": the account's own


def created_stamp(created_at: datetime) -> int:
    """An account row's creation time in microseconds (SQLite hands it back without a zone: UTC)."""
    aware = created_at if created_at.tzinfo is not None else created_at.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1_000_000)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, purpose: str, body: str) -> bytes:
    return hmac.new(secret, f"{purpose}\n{body}".encode(), hashlib.sha256).digest()


def issue(secret: bytes, account: User, chat_id: str, *, lifetime_seconds: float, mini_app: bool = False,
          language: str = "", now: float | None = None) -> str:
    """A link token for ``account`` (URL-safe), valid for ``lifetime_seconds``; ``language``: the
    client's language tag the pages follow where the account has no language picked (a Mini App's)."""
    now = time.time() if now is None else now
    fields: list[object] = [account.platform, account.platform_user_id, chat_id, account.id,
                            created_stamp(account.created_at), int(now + lifetime_seconds), 1 if mini_app else 0]
    if language_tag(language):  # a link without one reads as it did before languages
        fields.append(language_tag(language))
    body = _b64(json.dumps(fields, separators=(",", ":")).encode())
    return f"{body}.{_b64(_mac(secret, 'pass', body))}"


def read(secret: bytes, token: str, *, now: float | None = None) -> AccountPass:
    """The pass a token carries, when the server signed it and it has not expired; else ``Refused``.
    Whether its account still exists is the caller's check (``matches``)."""
    if len(token) > 1024 or token.count(".") != 1:
        raise Refused("not a link token")
    body, signature = token.split(".")
    try:
        given = _unb64(signature)
    except ValueError:
        raise Refused("not a link token") from None
    if not hmac.compare_digest(_mac(secret, "pass", body), given):
        raise Refused("link signature does not match")
    try:
        fields = json.loads(_unb64(body))
        if not isinstance(fields, list) or len(fields) not in (7, 8):
            raise ValueError("not a pass")
        platform, user_id, chat_id, account_id, created_us, expires, mini_app = fields[:7]
        found = AccountPass(str(platform), str(user_id), str(chat_id), int(account_id), int(created_us), int(expires),
                            bool(mini_app), language_tag(fields[7]) if len(fields) == 8 else "")
    except (ValueError, TypeError):
        raise Refused("not a link token") from None
    if (time.time() if now is None else now) >= found.expires:
        raise Refused("link expired")
    return found


def matches(found: AccountPass, account: User | None) -> bool:
    """Whether the account row the pass was issued for is still the platform account's row."""
    return (account is not None and account.id == found.account_id and account.platform == found.platform
            and account.platform_user_id == found.user_id and created_stamp(account.created_at) == found.created_us)


def object_ref(secret: bytes, found: AccountPass, kind: str, object_id: int) -> str:
    """An object's id in a URL: the id and a MAC bound to the account row, so that it can't be
    guessed, nor used under another account's link."""
    body = f"{found.account_id}:{found.created_us}:{kind}:{object_id}"
    return f"{object_id}-{_b64(_mac(secret, 'object', body)[:12])}"


def read_object_ref(secret: bytes, found: AccountPass, kind: str, ref: str) -> int | None:
    number, _, check = ref.partition("-")
    if not (number.isascii() and number.isdigit() and len(number) <= 12):
        return None
    expected = object_ref(secret, found, kind, int(number))
    return int(number) if hmac.compare_digest(expected, ref) else None
