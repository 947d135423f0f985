"""The local object store and the choice of store from FUNNELGATE_STORAGE_URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.runtime.objectstore import (
    LocalObjectStore,
    ObjectNotFound,
    S3ObjectStore,
    make_object_store,
)
from app.settings import Settings


async def test_local_store_round_trip_and_idempotent_delete(tmp_path: Path):
    store = LocalObjectStore(tmp_path / "objects")
    await store.put("site-structure/h/campaigns/c/v1.json", b"{}", "application/json")
    assert (tmp_path / "objects/site-structure/h/campaigns/c/v1.json").read_bytes() == b"{}"
    await store.put("site-structure/h/campaigns/c/v1.json", b'{"a":1}', "application/json")
    assert await store.get("site-structure/h/campaigns/c/v1.json") == b'{"a":1}'
    await store.delete("site-structure/h/campaigns/c/v1.json")
    await store.delete("site-structure/h/campaigns/c/v1.json")
    with pytest.raises(ObjectNotFound):
        await store.get("site-structure/h/campaigns/c/v1.json")


async def test_local_store_leaves_no_temp_file_behind(tmp_path: Path):
    store = LocalObjectStore(f"file://{tmp_path}")
    await store.put("k/v1.json", b"x" * 10_000, "application/json")
    assert [p.name for p in (tmp_path / "k").iterdir()] == ["v1.json"]


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a", "a/"])
async def test_keys_cannot_escape_the_root(tmp_path: Path, key: str):
    with pytest.raises(ValueError):
        await LocalObjectStore(tmp_path).put(key, b"", "application/json")


def test_storage_url_selects_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    local = make_object_store(Settings(storage_url=str(tmp_path)))
    assert isinstance(local, LocalObjectStore) and local.root == tmp_path.resolve()
    as_url = make_object_store(Settings(storage_url=f"file://{tmp_path}/x"))
    assert isinstance(as_url, LocalObjectStore) and as_url.root == (tmp_path / "x").resolve()
    s3 = make_object_store(
        Settings(storage_url="s3://pages-bucket/a/b/", s3_endpoint_url="http://127.0.0.1:9")
    )
    assert isinstance(s3, S3ObjectStore)
    assert (s3.bucket, s3.full_key("k.json")) == ("pages-bucket", "a/b/k.json")
    bare = make_object_store(Settings(storage_url="s3://pages-bucket"))
    assert isinstance(bare, S3ObjectStore) and bare.full_key("k.json") == "k.json"
    for bad in ("s3:///prefix", "ftp://host/dir"):
        with pytest.raises(ValueError):
            make_object_store(Settings(storage_url=bad))
