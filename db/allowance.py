"""The free allowance, once per platform account: ``/delete`` then ``/start`` must not grant it again.

What survives the account is one keyed hash (HMAC-SHA256) of the platform and its account id, in
``allowance_claims``: it says "this account has had its allowance" to whoever holds the key and
nothing to anyone else, and it names no person. The key comes from ``STUDIO_ACCOUNT_HASH_KEY`` or,
when that is unset, from a random key kept in ``<data_dir>/account-hash.key`` (several bot
machines on one database must then share the setting).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AllowanceClaim
from db.upsert import insert_unless_present

log = logging.getLogger(__name__)

KEY_FILE = "account-hash.key"


def load_key(configured: str | None, data_dir: Path) -> bytes:
    """The configured key, else the install's own (made once, readable by its owner only)."""
    if configured:
        return configured.encode()
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_hex(32))
            log.info("made the account-hash key %s (set STUDIO_ACCOUNT_HASH_KEY to share one between machines)",
                     path)
    return path.read_text().strip().encode()


def account_hash(key: bytes, platform: str, platform_user_id: str) -> str:
    return hmac.new(key, f"{platform}:{platform_user_id}".encode(), hashlib.sha256).hexdigest()


async def claim(session: AsyncSession, key: bytes, platform: str, platform_user_id: str) -> bool:
    """True when this account has not had its allowance before (now it has); safe under races."""
    digest = account_hash(key, platform, str(platform_user_id))
    statement = insert_unless_present(session, AllowanceClaim, account_hash=digest).returning(AllowanceClaim.account_hash)
    return await session.scalar(statement) is not None


async def claimed(session: AsyncSession, key: bytes, platform: str, platform_user_id: str) -> bool:
    """Whether this account has had its allowance (a read: claiming it is ``claim``'s)."""
    digest = account_hash(key, platform, str(platform_user_id))
    return await session.scalar(select(AllowanceClaim.account_hash).where(AllowanceClaim.account_hash == digest)) is not None
