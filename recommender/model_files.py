"""Where a model's files are: ``MODEL_DIR`` on this host and, on a site of several hosts, a bucket they all share.

With ``MODEL_STORAGE_URL`` unset (one host, ``make run``) a model is the folder ``MODEL_DIR/<version>`` the retrain wrote,
and nothing here goes further. With ``s3://bucket/prefix`` (any S3-compatible store, through boto3):

- a retrain uploads the folder to ``prefix/<version>/`` and then ``manifest.json`` (every file's size and SHA-256), last,
  before the run may be activated: a version whose manifest is there is whole;
- every process that serves finds the active version in the database and asks ``model_folder`` for it: the first
  process of a host to ask downloads it into ``MODEL_DIR/.<version>.download/`` under a file lock (one download per
  host, however many workers), checks each file's size and checksum, and renames the folder into place; a download
  cut off resumes where its files stopped. Later processes find the folder and memory-map it as before;
- versions the retrain prunes (``MODEL_FILES_KEEP``) are deleted from the bucket, and each host drops the folders of
  versions no longer kept (``cache_prune``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CHUNK = 8 * 1024 * 1024  # bytes read from the bucket at a time
PARALLEL_FILES = 4  # files uploaded or downloaded at once
FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}")
SHA256 = re.compile(r"[0-9a-f]{64}")


class ModelUnavailable(ValueError):
    """The model's files cannot be had on this host now (the bucket is down, the version is not there, a file is
    corrupt); the caller keeps serving what it has, and asks again later."""


@dataclass(frozen=True)
class Bucket:
    """The bucket and key prefix of ``MODEL_STORAGE_URL``, and a boto3 client for them."""

    name: str
    prefix: str
    client: object

    @classmethod
    def configured(cls) -> Bucket | None:
        """The site's bucket; None when models live in ``MODEL_DIR`` only."""
        if not settings.MODEL_STORAGE_URL:
            return None
        import boto3
        from botocore.config import Config

        url = urlsplit(settings.MODEL_STORAGE_URL)
        client = boto3.client(
            "s3",
            endpoint_url=settings.MODEL_STORAGE_ENDPOINT_URL or None,
            config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}),
        )
        return cls(url.netloc, url.path.strip("/"), client)

    def key(self, version: str, name: str = "") -> str:
        return "/".join(part for part in (self.prefix, version, name) if part)


def _errors() -> tuple[type[BaseException], ...]:
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, Boto3Error, OSError)


def local_folder(version: str) -> Path:
    return Path(settings.MODEL_DIR) / version


def model_folder(version: str) -> Path:
    """The local folder of model ``version``, downloaded from the bucket first when this host does not have it yet;
    raises ModelUnavailable when it cannot be had."""
    folder = local_folder(version)
    bucket = None if folder.exists() else Bucket.configured()
    if bucket is None:
        return folder
    try:
        return _download(bucket, version, folder)
    except _errors() as exc:
        raise ModelUnavailable(f"model {version} cannot be fetched from {settings.MODEL_STORAGE_URL}: {exc}") from exc


def model_upload(version: str) -> int:
    """Upload the local folder of ``version`` to the bucket, its manifest last; returns the bytes sent (0 with no bucket).
    Raises ModelUnavailable when the bucket cannot take it (the run then fails and the active model stays)."""
    bucket = Bucket.configured()
    if bucket is None:
        return 0
    from boto3.s3.transfer import TransferConfig

    folder = local_folder(version)
    files = sorted(path for path in folder.iterdir() if path.is_file())
    manifest = {"version": version, "files": {path.name: {"size": path.stat().st_size, "sha256": _sha256(path)} for path in files}}
    transfer = TransferConfig(multipart_threshold=64 * 1024 * 1024, multipart_chunksize=64 * 1024 * 1024, max_concurrency=PARALLEL_FILES)
    started = time.monotonic()

    def send(path: Path) -> None:
        bucket.client.upload_file(str(path), bucket.name, bucket.key(version, path.name), Config=transfer)

    try:
        with ThreadPoolExecutor(PARALLEL_FILES) as pool:
            list(pool.map(send, files))
        bucket.client.put_object(Bucket=bucket.name, Key=bucket.key(version, MANIFEST), Body=json.dumps(manifest).encode())
    except _errors() as exc:
        raise ModelUnavailable(f"model {version} could not be uploaded to {settings.MODEL_STORAGE_URL}: {exc}") from exc
    size = sum(entry["size"] for entry in manifest["files"].values())
    log.info(
        "model %s uploaded to %s: %d files, %.1f MB in %.1f s",
        version,
        settings.MODEL_STORAGE_URL,
        len(files),
        size / 1e6,
        time.monotonic() - started,
    )
    return size


def model_remove(version: str) -> bool:
    """Delete model ``version`` here and from the bucket (its manifest first, so no host starts fetching it); False when
    the bucket could not be reached (the caller tries again later)."""
    remove_local(local_folder(version))
    bucket = Bucket.configured()
    if bucket is None:
        return True
    try:
        bucket.client.delete_object(Bucket=bucket.name, Key=bucket.key(version, MANIFEST))
        listed = bucket.client.list_objects_v2(Bucket=bucket.name, Prefix=bucket.key(version) + "/")
        keys = [{"Key": item["Key"]} for item in listed.get("Contents", [])]
        if keys:
            bucket.client.delete_objects(Bucket=bucket.name, Delete={"Objects": keys, "Quiet": True})
    except _errors() as exc:
        log.warning(
            "model %s: its files in %s were not deleted (%s); tried again at the next prune", version, settings.MODEL_STORAGE_URL, exc
        )
        return False
    return True


def cache_prune(keep: set[str]) -> list[str]:
    """On a host that fetches from the bucket: delete the local folders (unfinished downloads and locks too) of versions
    not in ``keep``; returns those versions. A process still serving one keeps its memory-mapped files until it lets go."""
    folder = Path(settings.MODEL_DIR)
    if not settings.MODEL_STORAGE_URL or not folder.is_dir():
        return []
    dropped = set()
    for path in folder.iterdir():
        version = path.name.removeprefix(".").removesuffix(".download").removesuffix(".lock")
        if path.name.endswith(".tmp") or version in keep:
            continue  # a retrain's folder being written on this host is the retrain's to finish or prune
        remove_local(path)
        dropped.add(version)
    if dropped:
        log.info("dropped local model files no longer kept: %s", ", ".join(sorted(dropped)))
    return sorted(dropped)


def remove_local(path: Path) -> None:
    """A model folder (or a model file of format 1, from before) and everything in it; nothing if it is gone."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _download(bucket: Bucket, version: str, folder: Path) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{version}.lock", "a") as lock:
        _lock(lock, version)
        if folder.exists():  # another process of this host fetched it while we waited
            return folder
        started = time.monotonic()
        body = bucket.client.get_object(Bucket=bucket.name, Key=bucket.key(version, MANIFEST))["Body"].read()
        files = _checked_manifest(version, body)
        partial = folder.parent / f".{version}.download"
        partial.mkdir(exist_ok=True)
        with ThreadPoolExecutor(PARALLEL_FILES) as pool:
            list(pool.map(lambda item: _fetch_file(bucket, version, partial / item[0], **item[1]), files.items()))
        os.replace(partial, folder)
        size = sum(entry["size"] for entry in files.values())
        log.info("model %s fetched from %s: %.1f MB in %.1f s", version, settings.MODEL_STORAGE_URL, size / 1e6, time.monotonic() - started)
        return folder


def _checked_manifest(version: str, body: bytes) -> dict[str, dict]:
    """The manifest's files ({name: {"size", "sha256"}}), each a plain file name, a size and a SHA-256; anything else
    raises ModelUnavailable (a file name from the bucket must never reach outside the model's folder)."""
    try:
        files = json.loads(body)["files"]
        for name, entry in files.items():
            if (
                not FILE_NAME.fullmatch(name)
                or not isinstance(entry["size"], int)
                or entry["size"] < 0
                or not SHA256.fullmatch(entry["sha256"])
            ):
                raise ValueError(f"file {name!r}")
            files[name] = {"size": entry["size"], "sha256": entry["sha256"]}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelUnavailable(f"model {version}: its manifest in the bucket is not valid ({exc})") from None
    return files


def _lock(lock, version: str) -> None:
    """Hold the host's download lock of ``version``, waiting at most MODEL_DOWNLOAD_TIMEOUT for another process's."""
    deadline = time.monotonic() + settings.MODEL_DOWNLOAD_TIMEOUT
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise ModelUnavailable(f"model {version}: another process of this host has been fetching it too long") from None
            time.sleep(0.2)


def _fetch_file(bucket: Bucket, version: str, path: Path, *, size: int, sha256: str) -> None:
    """Download one file of the manifest into ``path``, from where an earlier try stopped, and check it; a file that
    does not match its checksum is fetched again whole, once."""
    for attempt in range(2):
        path.touch()
        have = path.stat().st_size
        if have > size:
            path.unlink()
            path.touch()
            have = 0
        if have < size:
            response = bucket.client.get_object(Bucket=bucket.name, Key=bucket.key(version, path.name), Range=f"bytes={have}-")
            with open(path, "ab") as handle:
                for chunk in response["Body"].iter_chunks(CHUNK):
                    handle.write(chunk)
        if path.stat().st_size == size and _sha256(path) == sha256:
            return
        path.unlink()
    raise ModelUnavailable(f"model {version}: {path.name} does not match its checksum in the bucket")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()
