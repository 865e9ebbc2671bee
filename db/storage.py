"""Blob storage behind one interface: a local folder by default, S3 (or any S3-compatible
service) at scale.

Keys are relative POSIX paths; everything a user owns lives under ``user_prefix(user_id)`` so
that ``/delete`` can remove it with one call. Both backends run blocking I/O in a thread so the
bot's event loop never waits on disk or network.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the GPU image runs the engine without pydantic-settings (bench/gpu_check.sh)
    from config.settings import Settings

log = logging.getLogger(__name__)

_KEY_PART = re.compile(r"^[A-Za-z0-9._=-]+$")


class StorageError(Exception):
    pass


class ObjectNotFound(StorageError, KeyError):
    pass


class StorageUnavailable(StorageError):
    """The storage can't be written at all (a folder that can't be made, a bucket that can't be reached
    or refuses the keys): checked at start, so the first user's photo is not where it shows."""


USERS = "users/"


def user_prefix(user_id: int) -> str:
    return f"{USERS}{int(user_id)}/"


def _user_id(name: str) -> int | None:
    """The user id a ``users/<id>/`` folder name stands for (None: not one of those)."""
    return int(name) if name.isdigit() else None


def validate_key(key: str) -> str:
    """Keys are plain relative paths: no absolute paths, no '..', no odd characters."""
    parts = key.split("/")
    if not key or any(part in {"", ".", ".."} or not _KEY_PART.match(part) for part in parts):
        raise StorageError(f"invalid storage key {key!r}")
    return key


def _validate_prefix(prefix: str) -> str:
    return validate_key(prefix.rstrip("/")) + "/"


class Storage(abc.ABC):
    """put / get / delete / delete everything under a prefix / a URL to hand out."""

    @abc.abstractmethod
    async def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> str: ...

    @abc.abstractmethod
    async def get(self, key: str) -> bytes: ...

    @abc.abstractmethod
    async def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    async def delete(self, key: str) -> None: ...

    @abc.abstractmethod
    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; returns how many were deleted."""

    @abc.abstractmethod
    async def list(self, prefix: str) -> list[str]: ...

    @abc.abstractmethod
    async def url(self, key: str, *, expires_seconds: int | None = None) -> str: ...

    async def delete_user(self, user_id: int) -> int:
        return await self.delete_prefix(user_prefix(user_id))

    async def check(self) -> None:
        """Raise StorageUnavailable when nothing could be written here (the start-up check)."""

    async def user_ids(self) -> set[int]:
        """The users that have anything stored (``users/<id>/``), for the sweep of what /delete could
        not remove (db/orphans.py). This default lists every key; the backends list folders."""
        return {uid for key in await self.list(USERS) if (uid := _user_id(key.split("/")[1])) is not None}


def _remove_tree(folder: Path) -> None:
    """``shutil.rmtree``, but what is already gone counts as removed."""
    def unless_gone(error: BaseException) -> None:
        if not isinstance(error, FileNotFoundError):
            raise error

    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=lambda _function, _path, error: unless_gone(error))
    else:
        shutil.rmtree(folder, onerror=lambda _function, _path, info: unless_gone(info[1]))


class LocalStorage(Storage):
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / validate_key(key)

    async def check(self) -> None:
        try:
            fd, probe = tempfile.mkstemp(dir=self.root, prefix=".probe-")
            os.close(fd)
            os.remove(probe)
        except OSError as error:
            raise StorageUnavailable(f"can't write to the storage folder {self.root}: {error.strerror or error}") from error

    def _write(self, key: str, data: bytes) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)  # readers never see half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> str:
        await asyncio.to_thread(self._write, key, data)
        return validate_key(key)

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path(key).read_bytes)
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).is_file)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    def _delete_tree(self, prefix: str) -> int:
        """A file or folder that vanishes meanwhile (another deletion of the same user, the retention
        sweep) is gone, as asked: only what can't be removed is an error."""
        folder = self.root / _validate_prefix(prefix)
        if not folder.is_dir():
            return 0
        count = sum(len(files) for _, _, files in os.walk(folder))  # os.walk skips what vanishes
        _remove_tree(folder)
        return count

    async def delete_prefix(self, prefix: str) -> int:
        return await asyncio.to_thread(self._delete_tree, prefix)

    def _list(self, prefix: str) -> list[str]:
        folder = self.root / _validate_prefix(prefix)
        if not folder.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))

    async def list(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(self._list, prefix)

    async def user_ids(self) -> set[int]:
        def _ids() -> set[int]:
            folder = self.root / USERS
            if not folder.is_dir():
                return set()
            return {uid for p in folder.iterdir() if p.is_dir() and (uid := _user_id(p.name)) is not None}

        return await asyncio.to_thread(_ids)

    async def url(self, key: str, *, expires_seconds: int | None = None) -> str:
        return self.path(key).as_uri()


class S3Storage(Storage):
    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        presign_seconds: int = 3600,
        client: Any = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        if not bucket:
            raise StorageError("S3 storage needs a bucket (STUDIO_S3_BUCKET)")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.presign_seconds = presign_seconds
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"} if endpoint_url else {},
                retries={"max_attempts": 5, "mode": "standard"},
            ),
        )

    def _full(self, key: str) -> str:
        return self.prefix + validate_key(key)

    async def check(self) -> None:
        """Write and delete one small object where the bot writes (``users/``, which a least-privilege
        key may be limited to; no user's folder), needing no bucket-level permission such as ListBucket."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = f"{self.prefix}{USERS}.studio-start-probe"
        where = f"S3 bucket {self.bucket} at {self.client.meta.endpoint_url}"
        try:
            await asyncio.to_thread(self.client.put_object, Bucket=self.bucket, Key=key, Body=b"")
            await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as error:
            raise StorageUnavailable(f"can't write to {where}: {error}") from error

    async def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> str:
        await asyncio.to_thread(self.client.put_object, Bucket=self.bucket, Key=self._full(key), Body=data, ContentType=content_type)
        return validate_key(key)

    async def get(self, key: str) -> bytes:
        def _get() -> bytes:
            try:
                return self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"].read()
            except self.client.exceptions.NoSuchKey:
                raise ObjectNotFound(key) from None

        return await asyncio.to_thread(_get)

    async def exists(self, key: str) -> bool:
        def _head() -> bool:
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._full(key))
                return True
            except self.client.exceptions.ClientError as error:
                if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                    return False
                raise

        return await asyncio.to_thread(_head)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=self._full(key))

    def _keys(self, prefix: str) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + _validate_prefix(prefix)):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    async def list(self, prefix: str) -> list[str]:
        keys = await asyncio.to_thread(self._keys, prefix)
        return sorted(k[len(self.prefix):] for k in keys)

    async def delete_prefix(self, prefix: str) -> int:
        def _delete_all() -> int:
            keys = self._keys(prefix)
            refused: list[str] = []
            for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
                batch = [{"Key": k} for k in keys[start : start + 1000]]
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                # Quiet mode still lists the keys S3 did not delete (InternalError, SlowDown, AccessDenied)
                refused += [f"{e.get('Key')}: {e.get('Code')}" for e in answer.get("Errors", [])]
            if refused:
                raise StorageError(f"{len(refused)} of {len(keys)} objects under {prefix} were not deleted "
                                   f"(first: {refused[0]})")
            return len(keys)

        return await asyncio.to_thread(_delete_all)

    async def user_ids(self) -> set[int]:
        def _ids() -> set[int]:
            paginator = self.client.get_paginator("list_objects_v2")
            ids: set[int] = set()
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + USERS, Delimiter="/"):
                for common in page.get("CommonPrefixes", []):
                    uid = _user_id(common["Prefix"][len(self.prefix + USERS):].rstrip("/"))
                    if uid is not None:
                        ids.add(uid)
            return ids

        return await asyncio.to_thread(_ids)

    async def url(self, key: str, *, expires_seconds: int | None = None) -> str:
        return await asyncio.to_thread(
            self.client.generate_presigned_url,
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._full(key)},
            ExpiresIn=expires_seconds or self.presign_seconds,
        )


def storage_from_settings(settings: Settings) -> Storage:
    if settings.storage_backend == "s3":
        if not settings.s3_bucket:
            from config.settings import ConfigError

            raise ConfigError("Configuration error: STUDIO_S3_BUCKET is not set; STUDIO_STORAGE_BACKEND=s3 needs it.")
        def secret(value: Any) -> str | None:
            return value.get_secret_value() if value is not None else None

        return S3Storage(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region,
            access_key_id=secret(settings.s3_access_key_id),
            secret_access_key=secret(settings.s3_secret_access_key),
            presign_seconds=settings.s3_presign_seconds,
        )
    return LocalStorage(settings.resolved_storage_dir)
