"""The page flow against a real S3-compatible server (moto's, on 127.0.0.1), not a patched boto3."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy.ext.asyncio import AsyncSession

from app.runtime.objectstore import ObjectNotFound, S3ObjectStore
from app.settings import Settings
from resolvers import pages
from tests.conftest import JWT_SECRET
from tests.factories import make_campaign
from tests.test_pages import body, page_url, signed_in

PREFIX = "tenant-pages/eu"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> str:
    # Dummy credentials, and no chance of reading a developer's real AWS configuration.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    name = f"fg-pages-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def settings(database_url: str, s3_endpoint: str, bucket: str) -> Settings:
    """Overrides conftest's: the app under test stores objects in S3."""
    return Settings(
        database_url=database_url,
        jwt_secret=JWT_SECRET,
        storage_url=f"s3://{bucket}/{PREFIX}/",
        s3_endpoint_url=s3_endpoint,
        webhook_allow_private=True,
    )


def keys_in(s3_endpoint: str, bucket: str) -> list[str]:
    listing = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def read_object(s3_endpoint: str, bucket: str, key: str) -> tuple[bytes, str]:
    response = boto3.client("s3", endpoint_url=s3_endpoint).get_object(Bucket=bucket, Key=key)
    return response["Body"].read(), response["ContentType"]


async def test_app_stores_page_versions_in_s3_under_the_prefix(
    app, client, tenant, s3_endpoint, bucket
):
    assert isinstance(app.state.services.object_store, S3ObjectStore)
    await make_campaign(client, tenant)
    url, auth = page_url(tenant.handle), tenant.auth()
    first = (await client.put(url, json=body(n=1), headers=auth)).json()
    second = (await client.put(url, json=body(n=2), headers=auth)).json()

    key = f"site-structure/{tenant.handle}/campaigns/spring-launch"
    assert (first["objectKey"], second["objectKey"]) == (f"{key}/v1.json", f"{key}/v2.json")
    assert keys_in(s3_endpoint, bucket) == [f"{PREFIX}/{key}/v1.json", f"{PREFIX}/{key}/v2.json"]
    data, content_type = read_object(s3_endpoint, bucket, f"{PREFIX}/{key}/v1.json")
    assert (json.loads(data), content_type) == ({"n": 1}, "application/json")

    older = (await client.get(url, params={"version": 1}, headers=auth)).json()
    assert older["schema"] == {"n": 1}
    published = (await client.post(url + "/publish", headers=auth)).json()
    assert (published["version"], published["schema"], published["status"]) == (
        2,
        {"n": 2},
        "PUBLISHED",
    )


async def test_failed_database_write_leaves_no_object_in_s3(
    client, tenant, ctx, s3_endpoint, bucket, monkeypatch
):
    await make_campaign(client, tenant)
    ctx = await signed_in(ctx, tenant)

    async def failing_commit(self: AsyncSession) -> None:
        raise RuntimeError("database went away")

    with monkeypatch.context() as patched:
        patched.setattr(AsyncSession, "commit", failing_commit)
        with pytest.raises(RuntimeError):
            await pages.upsert_page(ctx, tenant.handle, "spring-launch", body())
    assert keys_in(s3_endpoint, bucket) == []


async def test_s3_store_put_get_delete(s3_endpoint, bucket):
    store = S3ObjectStore(bucket, "/some/prefix/", s3_endpoint)
    await store.put("a/b.json", b'{"x":1}', "application/json")
    assert keys_in(s3_endpoint, bucket) == ["some/prefix/a/b.json"]
    assert await store.get("a/b.json") == b'{"x":1}'
    await store.delete("a/b.json")
    await store.delete("a/b.json")  # deleting a missing key is not an error
    with pytest.raises(ObjectNotFound):
        await store.get("a/b.json")
    assert keys_in(s3_endpoint, bucket) == []
