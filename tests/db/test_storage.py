"""Blob storage: the local folder and S3 (against moto's standalone server on 127.0.0.1)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from db.storage import LocalStorage, ObjectNotFound, S3Storage, Storage, StorageError, storage_from_settings, user_prefix
from config.settings import Settings


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "blobs")
    endpoint = request.getfixturevalue("s3_endpoint")
    import boto3

    bucket = f"studio-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=bucket)
    return S3Storage(bucket, prefix="studio", endpoint_url=endpoint, region="us-east-1",
                     access_key_id="testing", secret_access_key="testing", presign_seconds=300)


async def test_put_get_delete(storage: Storage) -> None:
    key = await storage.put("users/7/photos/a.jpg", b"\xff\xd8jpeg", content_type="image/jpeg")
    assert key == "users/7/photos/a.jpg"
    assert await storage.get(key) == b"\xff\xd8jpeg"
    assert await storage.exists(key)
    await storage.delete(key)
    assert not await storage.exists(key)
    with pytest.raises(ObjectNotFound):
        await storage.get(key)


async def test_delete_user_removes_only_that_users_objects(storage: Storage) -> None:
    for name in ("photos/1.jpg", "photos/2.jpg", "lora/model.safetensors", "out/9/a.jpg"):
        await storage.put(user_prefix(7) + name, b"x")
    await storage.put(user_prefix(70) + "photos/1.jpg", b"keep")
    assert len(await storage.list(user_prefix(7))) == 4
    assert await storage.delete_user(7) == 4
    assert await storage.list(user_prefix(7)) == []
    assert await storage.get(user_prefix(70) + "photos/1.jpg") == b"keep"


async def test_a_file_another_deletion_removed_first_is_not_a_failure(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Two deletions of one user at once (a double tap on /delete's "Yes", or /delete and the retention
    sweep): each file the other one removed a moment earlier is gone, as asked, not an error."""
    import os

    storage = LocalStorage(tmp_path / "blobs")
    for name in ("photos/1.jpg", "photos/2.jpg", "outputs/5/0-9x16.jpg"):
        await storage.put(user_prefix(7) + name, b"x")
    unlink = os.unlink
    raced: list[str] = []

    def the_other_deletion_was_first(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        unlink(path, *args, **kwargs)  # the other deletion removes it…
        raced.append(str(path))
        unlink(path, *args, **kwargs)  # …just before this one does: FileNotFoundError

    monkeypatch.setattr(os, "unlink", the_other_deletion_was_first)
    assert await storage.delete_user(7) == 3
    monkeypatch.undo()
    assert len(raced) == 3 and not (tmp_path / "blobs" / "users" / "7").exists()


async def test_url_serves_the_object(storage: Storage) -> None:
    key = await storage.put("users/3/out/portrait.jpg", b"portrait-bytes")
    url = await storage.url(key, expires_seconds=120)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"portrait-bytes"
    if isinstance(storage, S3Storage):
        assert "X-Amz-Expires=120" in url and "X-Amz-Signature" in url


@pytest.mark.parametrize("key", ["", "/etc/passwd", "users/../../etc/passwd", "users/7/a b.jpg", "users//7"])
async def test_keys_cannot_escape(tmp_path: Path, key: str) -> None:
    with pytest.raises(StorageError):
        await LocalStorage(tmp_path).put(key, b"x")


def test_backend_from_settings(tmp_path: Path) -> None:
    local = storage_from_settings(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    assert isinstance(local, LocalStorage) and local.root == (tmp_path / "storage").resolve()
    s3 = storage_from_settings(
        Settings(_env_file=None, storage_backend="s3", s3_bucket="b", s3_endpoint_url="http://127.0.0.1:9",  # type: ignore[call-arg]
                 s3_access_key_id="id", s3_secret_access_key="secret")
    )
    assert isinstance(s3, S3Storage) and s3.bucket == "b" and s3.prefix == "portrait-studio/"


def test_s3_without_a_bucket_names_the_variable() -> None:
    from config.settings import ConfigError

    with pytest.raises(ConfigError, match="STUDIO_S3_BUCKET is not set"):
        storage_from_settings(Settings(_env_file=None, storage_backend="s3"))  # type: ignore[call-arg]


async def test_the_users_with_anything_stored_are_listed_by_folder(storage: Storage) -> None:
    await storage.put(user_prefix(7) + "sets/1/a.jpg", b"x")
    await storage.put(user_prefix(7) + "loras/1.safetensors", b"x")
    await storage.put(user_prefix(12) + "outputs/3/0-1x1.jpg", b"x")
    await storage.put("models/style.safetensors", b"not a user's")
    assert await storage.user_ids() == {7, 12}
    await storage.delete_user(7)
    assert await storage.user_ids() == {12}


async def test_objects_s3_refuses_to_delete_are_not_counted_as_deleted() -> None:
    """DeleteObjects in quiet mode answers 200 and lists the keys it did not delete: a partial
    failure must not look like a finished /delete."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    storage = S3Storage("bucket", client=client)
    keys = ["users/1/sets/1/a.jpg", "users/1/loras/1.safetensors"]
    with Stubber(client) as stub:
        stub.add_response("list_objects_v2", {"Contents": [{"Key": k} for k in keys], "IsTruncated": False},
                          {"Bucket": "bucket", "Prefix": "users/1/"})
        stub.add_response("delete_objects", {"Errors": [{"Key": keys[1], "Code": "InternalError", "Message": "x"}]},
                          {"Bucket": "bucket", "Delete": {"Objects": [{"Key": k} for k in keys], "Quiet": True}})
        with pytest.raises(StorageError, match="1 of 2 objects under users/1/ were not deleted"):
            await storage.delete_prefix("users/1/")


async def test_the_start_up_probe_writes_where_the_bot_writes_and_leaves_nothing(storage: Storage, monkeypatch) -> None:
    """A least-privilege key may write only under ``users/`` (all the bot ever writes): the probe stays
    there too, so such a key is not refused at start; and it is no user's folder."""
    written: list[str] = []
    if isinstance(storage, S3Storage):
        put = storage.client.put_object
        monkeypatch.setattr(storage.client, "put_object", lambda **kw: (written.append(kw["Key"]), put(**kw))[1])
    await storage.check()
    assert all(key.startswith(storage.prefix + "users/") for key in written)
    assert await storage.list("users/") == [] and await storage.user_ids() == set()
    if isinstance(storage, LocalStorage):
        assert not any(storage.root.iterdir()) if storage.root.exists() else True
