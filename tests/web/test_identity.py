"""Who the gallery serves: Telegram's initData checked as Telegram documents it, and the private
links it signs itself."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from db.models import User
from web import identity
from web.identity import Refused

BOT_TOKEN = "123456:AAE-test-token-for-the-gallery-0123456789"
SECRET = b"a-server-secret-of-enough-length"


def telegram_init_data(fields: dict[str, str], bot_token: str = BOT_TOKEN) -> str:
    """initData as Telegram builds it, computed here from the documentation, not with the module's code."""
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret_key = hmac.new(key=b"WebAppData", msg=bot_token.encode(), digestmod=hashlib.sha256).digest()
    signature = hmac.new(key=secret_key, msg=check.encode(), digestmod=hashlib.sha256).hexdigest()
    return urlencode({**fields, "hash": signature})


def fields(auth_date: int | None = None, user_id: int = 501) -> dict[str, str]:
    return {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps({"id": user_id, "first_name": "Alex", "language_code": "en"}, separators=(",", ":")),
        "auth_date": str(auth_date if auth_date is not None else int(time.time())),
    }


def test_init_data_signed_with_the_bot_token_is_accepted() -> None:
    visitor = identity.validate_init_data(telegram_init_data(fields()), BOT_TOKEN, max_age_seconds=86400)
    assert visitor.user_id == "501" and visitor.first_name == "Alex"


def test_a_known_vector() -> None:
    """A fixed initData and its hash, computed by hand from Telegram's recipe."""
    data = {"auth_date": "1700000000", "query_id": "Q1", "user": '{"id":42,"first_name":"Ann"}'}
    check = 'auth_date=1700000000\nquery_id=Q1\nuser={"id":42,"first_name":"Ann"}'
    assert identity.data_check_string({**data, "hash": "x"}) == check
    key = hmac.new(b"WebAppData", BOT_TOKEN.encode(), hashlib.sha256).digest()
    assert identity.init_data_hash(data, BOT_TOKEN) == hmac.new(key, check.encode(), hashlib.sha256).hexdigest()
    visitor = identity.validate_init_data(telegram_init_data(data), BOT_TOKEN, max_age_seconds=60, now=1700000030)
    assert visitor.user_id == "42"


def test_a_tampered_field_is_refused() -> None:
    good = telegram_init_data(fields())
    tampered = good.replace("%22id%22%3A501", "%22id%22%3A502")
    assert tampered != good
    with pytest.raises(Refused):
        identity.validate_init_data(tampered, BOT_TOKEN, max_age_seconds=86400)


def test_stale_init_data_is_refused() -> None:
    stale = telegram_init_data(fields(auth_date=int(time.time()) - 2 * 86400))
    with pytest.raises(Refused):
        identity.validate_init_data(stale, BOT_TOKEN, max_age_seconds=86400)


def test_a_forged_hash_is_refused() -> None:
    forged = telegram_init_data(fields(), bot_token="999:another-bots-token-entirely-xxxxxxxxxx")
    with pytest.raises(Refused):
        identity.validate_init_data(forged, BOT_TOKEN, max_age_seconds=86400)
    with pytest.raises(Refused):
        identity.validate_init_data(urlencode({**fields(), "hash": "0" * 64}), BOT_TOKEN, max_age_seconds=86400)
    with pytest.raises(Refused):
        identity.validate_init_data(urlencode(fields()), BOT_TOKEN, max_age_seconds=86400)  # no hash at all


def account(user_id: str = "501", row: int = 7, created: datetime | None = None) -> User:
    return User(id=row, platform="telegram", platform_user_id=user_id,
                created_at=created or datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC))


def test_a_signed_link_names_its_account() -> None:
    token = identity.issue(SECRET, account(), "501", lifetime_seconds=3600)
    found = identity.read(SECRET, token)
    assert (found.platform, found.user_id, found.chat_id, found.account_id) == ("telegram", "501", "501", 7)
    assert identity.matches(found, account())
    # SQLite hands the creation time back without a zone: the same row
    assert identity.matches(found, account(created=datetime(2026, 12, 1, 10, 0, 0, 123456)))


def test_an_expired_link_is_refused() -> None:
    token = identity.issue(SECRET, account(), "501", lifetime_seconds=60, now=time.time() - 120)
    with pytest.raises(Refused, match="expired"):
        identity.read(SECRET, token)


def test_a_tampered_link_is_refused() -> None:
    token = identity.issue(SECRET, account(), "501", lifetime_seconds=3600)
    body, signature = token.split(".")
    other_body = identity.issue(SECRET, account(user_id="502", row=8), "502", lifetime_seconds=3600).split(".")[0]
    for forged in (f"{other_body}.{signature}", f"{body}.{signature[:-2]}AA", token + "x", "nonsense",
                   identity.issue(b"another-secret-entirely-xxxxxxx", account(), "501", lifetime_seconds=3600)):
        with pytest.raises(Refused):
            identity.read(SECRET, forged)


def test_a_link_for_an_account_row_that_is_gone_does_not_match() -> None:
    """Another user's row, or the same person's new row after /delete (its id and creation time differ)."""
    found = identity.read(SECRET, identity.issue(SECRET, account(), "501", lifetime_seconds=3600))
    assert not identity.matches(found, None)
    assert not identity.matches(found, account(user_id="502"))
    assert not identity.matches(found, account(row=9))
    assert not identity.matches(found, account(created=datetime(2026, 12, 1, 10, 0, 0, 123457, tzinfo=UTC)))


def test_object_refs_are_bound_to_the_account() -> None:
    mine = identity.read(SECRET, identity.issue(SECRET, account(), "501", lifetime_seconds=3600))
    theirs = identity.read(SECRET, identity.issue(SECRET, account("502", 8), "502", lifetime_seconds=3600))
    ref = identity.object_ref(SECRET, mine, "image", 41)
    assert identity.read_object_ref(SECRET, mine, "image", ref) == 41
    assert identity.read_object_ref(SECRET, theirs, "image", ref) is None
    assert identity.read_object_ref(SECRET, mine, "image", "41") is None
    assert identity.read_object_ref(SECRET, mine, "image", ref.replace("41-", "42-")) is None
    assert identity.read_object_ref(SECRET, mine, "image", "x" * 40) is None


def test_the_secret_is_redacted_like_the_others(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from config.settings import Settings

    settings = Settings(_env_file=None, data_dir=tmp_path, web_secret="s3cret-web-key-of-the-gallery")  # type: ignore[call-arg]
    assert "s3cret-web-key-of-the-gallery" in settings.secret_values()
    assert "s3cret" not in repr(settings)
    assert Settings(_env_file=None, data_dir=tmp_path, web_secret="").web_secret is None  # type: ignore[call-arg]


