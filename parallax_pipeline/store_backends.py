"""Where the content store keeps its records and objects: a local folder (the default) or
an S3 bucket (``s3://bucket/prefix``: AWS S3, MinIO, Ceph, ...). No Dagster.

Both backends answer to the same small set of calls, by *key* (a ``/``-separated name
under the store: ``recipes/<asset>/<recipe>.json``, ``objects/ab/<sha256>.mp4``):

- records (small JSON): `read`, `write`, `delete`, `delete_tree`, `list`;
- objects (files named by the SHA-256 of their bytes): `publish` a finished local file,
  `fetch` a verified local copy, `exists`, `check` (hash the stored bytes), `remove`,
  `objects` (key, size, time), `trim_cache`.

Every object has a local copy at ``<root>/<key>`` when it is read: for a local folder
that *is* the stored object; for a bucket ``root`` is this machine's cache, filled by
hash (an object once fetched is not fetched again while its bytes match its name).
Objects go to a bucket with a conditional PUT (``If-None-Match: *``): written once,
never overwritten; large files are uploaded in parts and downloaded in chunks, never held
whole in memory. The endpoint comes from ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``)
and the credentials and region from the standard AWS variables and files (boto3's chain).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from parallax_pipeline.engine.files import matches_digest, remember_digest, sync_folder, temp_path, write_atomic

OBJECT_NAME = re.compile(r"^([0-9a-f]{64})(\.[A-Za-z0-9]+)?$")
CHUNK = 1024 * 1024


def part_bytes() -> int:
    """Files above one part are uploaded in parts of this size, one part in memory at a
    time: ``PARALLAX_S3_PART_MB``, default 64 (S3 allows 10,000 parts of at least 5 MB:
    640 GB a file)."""
    return max(5, int(os.environ.get("PARALLAX_S3_PART_MB", "64"))) * 1024 * 1024

OK, MISSING, DAMAGED = "ok", "missing", "damaged"


class StoreError(RuntimeError):
    """The store's location cannot be used (a bucket that is not there, refused
    credentials, an endpoint that does not answer); the message names the URL."""


def verify_object(path: Path, thorough: bool = False) -> bool:
    """True when an object's bytes still hash to its name (`files.matches_digest`;
    ``thorough``: hashed even when a stamp says they did)."""
    match = OBJECT_NAME.match(path.name)
    return match is not None and matches_digest(path, match.group(1), thorough=thorough)


def _digest_of(key: str) -> str:
    match = OBJECT_NAME.match(key.rsplit("/", 1)[-1])
    if match is None:
        raise ValueError(f"{key!r} is not an object name (sha256 plus an extension)")
    return match.group(1)


def store_location(text: str) -> str:
    """A folder made absolute; an ``s3://`` URL as it is."""
    return text if "://" in text else str(Path(text).resolve())


def open_backend(location: Path | str, cache: Path | str | None = None) -> LocalFolder | S3Bucket:
    """The backend of ``location``: ``s3://bucket[/prefix]`` or a folder. A bucket's local
    copies go to ``cache``, else ``PARALLAX_CACHE_DIR``, else
    ``~/.cache/parallax-studio/s3/<bucket>/<prefix>``."""
    text = str(location)
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://"):].partition("/")
        if not bucket:
            raise StoreError(f"{text}: no bucket named (want s3://bucket/prefix)")
        prefix = prefix.strip("/")
        cache = cache or os.environ.get("PARALLAX_CACHE_DIR") or (
            Path.home() / ".cache" / "parallax-studio" / "s3" / bucket / prefix
        )
        return S3Bucket(bucket, prefix, Path(cache).resolve())
    if "://" in text:
        raise StoreError(f"{text}: unsupported store location (a folder or s3://bucket/prefix)")
    return LocalFolder(Path(location).resolve())


class LocalFolder:
    """Records and objects are files under ``root``; the objects are their own local copies."""

    remote = False

    def __init__(self, root: Path):
        self.root = root
        self.url = str(root)

    # records
    def read(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None

    def write(self, key: str, data: bytes) -> None:
        write_atomic(self.root / key, data)

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def delete_tree(self, prefix: str) -> None:
        if (self.root / prefix).is_dir():
            shutil.rmtree(self.root / prefix)

    def list(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        return sorted(p.relative_to(self.root).as_posix() for p in folder.rglob("*.json")) if folder.is_dir() else []

    # objects
    def publish(self, made: Path, key: str) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and verify_object(target):
            made.unlink()
        else:  # new, or a damaged copy to replace
            with open(made, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(made, target)  # same filesystem: an atomic rename
            sync_folder(target.parent)

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def fetch(self, key: str) -> str:
        return self.check(key)

    def check(self, key: str, thorough: bool = False) -> str:
        path = self.root / key
        if not path.is_file():
            return MISSING
        return OK if verify_object(path, thorough) else DAMAGED

    def remove(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def objects(self) -> list[tuple[str, int, int]]:
        folder = self.root / "objects"
        found = []
        for path in folder.glob("*/*") if folder.is_dir() else []:
            if OBJECT_NAME.match(path.name):
                stat = path.stat()
                found.append((path.relative_to(self.root).as_posix(), stat.st_size, stat.st_mtime_ns))
        return found

    def trim_cache(self, max_bytes: int) -> list[Path]:
        return []  # the objects are the store itself: `ContentStore.prune` bounds them


@lru_cache(maxsize=8)
def _client(endpoint: str | None, access_key: str | None, region: str | None):
    import boto3
    from botocore.config import Config

    # Cached per endpoint and identity: a client is thread-safe and costs ~50 ms to make.
    config = Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=16)
    return boto3.session.Session().client("s3", endpoint_url=endpoint or None, config=config)


class S3Bucket:
    """Records and objects in ``s3://bucket/prefix``; local copies of objects in ``root``."""

    remote = True

    def __init__(self, bucket: str, prefix: str, root: Path):
        self.bucket, self.prefix, self.root = bucket, prefix, root
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self.endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        self.client = _client(self.endpoint, os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_DEFAULT_REGION"))
        self.part = part_bytes()

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextmanager
    def _errors(self, key: str, action: str) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as err:
            error = err.response.get("Error", {})
            where = f" at {self.endpoint}" if self.endpoint else ""
            raise StoreError(
                f"{self.url}/{key}: {action} failed{where}: {error.get('Code', '?')} ({error.get('Message', err)})"
            ) from err
        except BotoCoreError as err:
            where = f" ({self.endpoint})" if self.endpoint else ""
            raise StoreError(f"{self.url}/{key}: {action} failed{where}: {err}") from err

    @staticmethod
    def _absent(err: Exception) -> bool:
        code = getattr(err, "response", {}).get("Error", {}).get("Code")
        return code in ("NoSuchKey", "404", "NotFound")

    def _get(self, key: str):
        """The GET response of ``key``, or None when there is no such object."""
        from botocore.exceptions import ClientError

        with self._errors(key, "reading"):
            try:
                return self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as err:
                if self._absent(err):
                    return None
                raise

    # records
    def read(self, key: str) -> bytes | None:
        response = self._get(key)
        if response is None:
            return None
        with self._errors(key, "reading"):
            return response["Body"].read()

    def write(self, key: str, data: bytes) -> None:
        with self._errors(key, "writing"):  # one PUT: the old record or the new one, never half
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType="application/json")

    def delete(self, key: str) -> None:
        with self._errors(key, "deleting"):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def _listing(self, prefix: str) -> Iterator[dict]:
        with self._errors(prefix, "listing"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix) + "/")
            for page in pages:
                yield from page.get("Contents", [])

    def _relative(self, full: str) -> str:
        return full[len(self.prefix) + 1:] if self.prefix else full

    def list(self, prefix: str) -> list[str]:
        return sorted(self._relative(item["Key"]) for item in self._listing(prefix) if item["Key"].endswith(".json"))

    def delete_tree(self, prefix: str) -> None:
        for item in list(self._listing(prefix)):
            self.delete(self._relative(item["Key"]))

    # objects
    def publish(self, made: Path, key: str) -> None:
        """Upload ``made`` as ``key`` unless it is there (conditional PUT: written once),
        then keep it as this machine's local copy."""
        self._upload(made, key)
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and verify_object(target):
            made.unlink()
        else:
            os.replace(made, target)

    def _upload(self, made: Path, key: str) -> None:
        from botocore.exceptions import ClientError

        size = made.stat().st_size
        with self._errors(key, "uploading"):
            try:
                if size <= self.part:
                    with open(made, "rb") as body:  # streamed from the file
                        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body, IfNoneMatch="*")
                else:
                    self._upload_parts(made, key)
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
                    raise  # PreconditionFailed: the object (these very bytes) is there already

    def _upload_parts(self, made: Path, key: str) -> None:
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=self._key(key))["UploadId"]
        try:
            parts = []
            with open(made, "rb") as handle:
                while chunk := handle.read(self.part):  # one part in memory at a time
                    number = len(parts) + 1
                    etag = self.client.upload_part(
                        Bucket=self.bucket, Key=self._key(key), UploadId=upload, PartNumber=number, Body=chunk
                    )["ETag"]
                    parts.append({"PartNumber": number, "ETag": etag})
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self._key(key), UploadId=upload, MultipartUpload={"Parts": parts}, IfNoneMatch="*"
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._key(key), UploadId=upload)
            raise

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        if (self.root / key).is_file():
            return True
        with self._errors(key, "looking up"):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
                return True
            except ClientError as err:
                if self._absent(err):
                    return False
                raise

    def fetch(self, key: str) -> str:
        """A verified local copy of ``key``: the cached one, or downloaded in chunks and
        checked against its name before it is renamed into the cache."""
        target = self.root / key
        if target.is_file() and verify_object(target):
            return OK
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = temp_path(target)
        try:
            with open(partial, "wb") as handle:
                state = self._stream(key, handle.write)
            if state == OK:
                os.replace(partial, target)
                remember_digest(target, _digest_of(key))  # its bytes were hashed as they came
            return state
        finally:
            partial.unlink(missing_ok=True)

    def check(self, key: str, thorough: bool = False) -> str:
        return self._stream(key, lambda chunk: None)  # the bucket's bytes: always hashed

    def _stream(self, key: str, sink) -> str:
        response = self._get(key)
        if response is None:
            return MISSING
        digest = hashlib.sha256()
        with self._errors(key, "reading"):
            for chunk in response["Body"].iter_chunks(CHUNK):
                digest.update(chunk)
                sink(chunk)
        return OK if digest.hexdigest() == _digest_of(key) else DAMAGED

    def remove(self, key: str) -> None:
        self.delete(key)
        (self.root / key).unlink(missing_ok=True)

    def objects(self) -> list[tuple[str, int, int]]:
        return [
            (self._relative(item["Key"]), item["Size"], int(item["LastModified"].timestamp() * 1e9))
            for item in self._listing("objects")
            if OBJECT_NAME.match(item["Key"].rsplit("/", 1)[-1])
        ]

    def trim_cache(self, max_bytes: int) -> list[Path]:
        """Bound this machine's copies to ``max_bytes``, least recently used first (every
        one is in the bucket, so any may go)."""
        folder = self.root / "objects"
        copies = []
        for path in folder.glob("*/*") if folder.is_dir() else []:
            if OBJECT_NAME.match(path.name):
                stat = path.stat()
                copies.append((max(stat.st_atime_ns, stat.st_mtime_ns), stat.st_size, path))
        total = sum(size for _, size, _ in copies)
        removed = []
        for _, size, path in sorted(copies):
            if total <= max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
            removed.append(path)
        return removed
