"""Object storage behind one small interface: a local directory, or S3 (or any S3-compatible
server) when ``FUNNELGATE_STORAGE_URL=s3://bucket/prefix``."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from resolvers.ports import ObjectNotFound, ObjectStore

if TYPE_CHECKING:
    from app.settings import Settings


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"Invalid object key {key!r}.")
    return key


class LocalObjectStore:
    """Objects as files under ``root``; a write is atomic (temp file, then ``os.replace``)."""

    def __init__(self, root: str | Path) -> None:
        text = str(root)
        if text.startswith("file://"):
            text = unquote(urlsplit(text).path)
        self.root = Path(text).resolve()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_check_key(key).split("/"))

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._put, key, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, key)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)


class S3ObjectStore:
    """Objects in an S3 bucket under ``prefix``; ``endpoint_url`` picks an S3-compatible server."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None) -> None:
        # Imported here: boto3 takes a noticeable time to import and only S3 deployments need it.
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        # boto3 clients are thread-safe, so one client serves every worker thread.
        self._client: Any = boto3.client("s3", endpoint_url=endpoint_url)

    def full_key(self, key: str) -> str:
        key = _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _get(self, key: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self.full_key(key))
        except self._client.exceptions.NoSuchKey as exc:
            raise ObjectNotFound(key) from exc
        body: bytes = response["Body"].read()  # boto3 has no types
        return body

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self.bucket,
            Key=self.full_key(key),
            Body=data,
            ContentType=content_type,
        )

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, key)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(
            self._client.delete_object, Bucket=self.bucket, Key=self.full_key(key)
        )


def make_object_store(settings: Settings) -> ObjectStore:
    """``s3://bucket/prefix`` gives S3 (at ``s3_endpoint_url`` if set); anything else is a
    local directory path or ``file://`` URL."""
    url = settings.storage_url
    if url.startswith("s3://"):
        parts = urlsplit(url)
        if not parts.netloc:
            raise ValueError(f"Storage URL {url!r} names no bucket.")
        return S3ObjectStore(parts.netloc, parts.path, settings.s3_endpoint_url)
    if "://" in url and not url.startswith("file://"):
        raise ValueError(f"Unsupported storage URL {url!r}: use a path, file:// or s3://.")
    return LocalObjectStore(url)
