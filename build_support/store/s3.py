"""The S3 backend (``s3://bucket/prefix``), through boto3; any S3-compatible endpoint.

* The endpoint is ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` if set, else
  ``endpoint_url`` in ``[tool.build_support.store]``, else AWS. Credentials come from
  boto3's usual chain and are never printed.
* Every object carries its SHA-256 as user metadata ``x-amz-meta-sha256``; a get
  downloads to a hidden temporary file, verifies it and only then renames it.
* Uploads above ``multipart_threshold_mb`` use a multipart upload, which S3 makes
  visible only when it completes. Parts go up four at a time, each retried on its own;
  an upload that fails (or whose file changes while it is read) is aborted, so no parts
  are left behind.
* A put of content already stored is a no-op only when the recorded SHA-256, the size
  and the object's ETag (the MD5 S3 computed from the stored bytes) all match the file.
* ``wait`` lists the key once when it is not there yet: a missing bucket or a prefix
  that may not be read fails at once instead of polling until the timeout.
* botocore's own retries are off: :class:`RetryPolicy` is the one policy. Connection
  errors, timeouts, 5xx and throttling are retried; 4xx never.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import hashlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import boto3
import botocore.exceptions as bexc
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig

from build_support import log
from build_support.errors import (
    ArtifactNotFoundError,
    BuildSupportError,
    IntegrityError,
    StoreError,
    UsageError,
)
from build_support.fsutil import sha256_file
from build_support.retry import RetryPolicy, Transient
from build_support.store import keys
from build_support.store.base import ObjectInfo, Store, StoreSettings, temp_sibling
from build_support.store.progress import Progress

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

META = "sha256"
#: Parts of a multipart upload in flight at once (each ``multipart_chunksize`` bytes).
PART_WORKERS = 4
#: S3's limit on an object key, prefix included.
S3_MAX_KEY_BYTES = 1024
MiB = 1024 * 1024
#: Error codes that mean "slow down / try again", whatever their HTTP status.
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "PriorRequestNotComplete",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
    }
)
NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
#: A conditional request whose condition did not hold (see ``S3Store._conditional``).
UNMET_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", *NOT_FOUND_CODES})
_UNMET = object()
DENIED_CODES = frozenset(
    {
        "403",
        "AccessDenied",
        "Forbidden",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "AllAccessDisabled",
    }
)
#: botocore exceptions that are transport faults (retried).
TRANSIENT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    bexc.ConnectionError,  # EndpointConnectionError, ConnectTimeoutError, ...
    bexc.ConnectionClosedError,
    bexc.ReadTimeoutError,
    bexc.HTTPClientError,
    bexc.IncompleteReadError,
    bexc.ResponseStreamingError,
    ConnectionError,  # the builtin: resets while streaming
    TimeoutError,
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its causes (boto3 wraps ClientError in S3UploadFailedError)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def gave_up(message: str) -> StoreError:
    """The error when the retry policy has spent its tries and time on a transient fault."""
    return StoreError(
        message,
        hint="check that the store is reachable; raise [tool.build_support.store] "
        "retry_total_seconds if outages last longer",
    )


def classify(  # noqa: PLR0911 - one return per class of fault
    exc: BaseException, *, bucket: str, key: str, endpoint: str
) -> BaseException:
    """Map a boto3 failure to :class:`Transient` (retry) or the error to raise."""
    where = f"s3://{bucket}/{key}"
    for e in _chain(exc):
        if isinstance(e, BuildSupportError):
            return e
        if isinstance(e, bexc.ClientError):
            err = e.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in TRANSIENT_CODES or status >= 500 or status == 429:
                return Transient(f"{code or status} from {endpoint}")
            if code in NOT_FOUND_CODES:
                return ArtifactNotFoundError(
                    f"{where} does not exist",
                    hint=f"run 'python -m build_support.store ls {key.rsplit('/', 1)[0]}/' to "
                    "see what is there; the stage that produces it may not have run",
                )
            if code == "NoSuchBucket":
                return StoreError(
                    f"bucket {bucket!r} does not exist at {endpoint} (while accessing {where})",
                    hint="create the bucket, or fix artifact_store / BUILD_SUPPORT_STORE",
                )
            if code in DENIED_CODES or status == 403:
                return StoreError(
                    f"access to {where} was denied ({code or status}: "
                    f"{err.get('Message', 'forbidden')})",
                    hint="check the credentials boto3 picks up (AWS_PROFILE, "
                    "AWS_ACCESS_KEY_ID, instance role) and the bucket policy",
                )
            return StoreError(
                f"S3 refused the request for {where}: {code or status} "
                f"{err.get('Message', '')}".rstrip(),
                hint="this is a client error and is not retried; check the bucket and key",
            )
        if isinstance(e, bexc.NoCredentialsError | bexc.PartialCredentialsError):
            return StoreError(
                f"no AWS credentials for {where}",
                hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE",
            )
        if isinstance(e, TRANSIENT_EXCEPTIONS):
            return Transient(f"{type(e).__name__} talking to {endpoint}")
    return exc


class S3Store(Store):
    def __init__(
        self,
        url: str,
        settings: StoreSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(settings, clock=clock, sleep=sleep)
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise UsageError(f"invalid S3 URL {url!r}", hint="use s3://bucket[/prefix]")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        if self.prefix:
            keys.validate_key(self.prefix)
        self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        environ = os.environ if env is None else env
        s = self.settings
        self.endpoint = (
            environ.get("AWS_ENDPOINT_URL_S3")
            or environ.get("AWS_ENDPOINT_URL")
            or s.endpoint_url
            or None
        )
        boto_config = BotoConfig(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=s.connect_timeout_seconds,
            read_timeout=s.read_timeout_seconds,
            s3={"addressing_style": "path"} if self.endpoint else {},
        )
        self.client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=s.region or None,
            config=boto_config,
        )
        self.transfer = TransferConfig(
            multipart_threshold=s.multipart_threshold_mb * MiB,
            multipart_chunksize=max(8, s.multipart_threshold_mb // 2) * MiB,
            num_download_attempts=1,
        )
        self.policy = RetryPolicy(
            attempts=s.retry_attempts,
            total_seconds=s.retry_total_seconds,
            clock=clock,
            sleep=sleep,
            rng=rng or random.Random(),  # noqa: S311 - jitter, not crypto
        )

    # -- helpers ----------------------------------------------------------------
    def _full(self, key: str) -> str:
        keys.validate_key(key)
        full = f"{self.prefix}/{key}" if self.prefix else key
        if len(full.encode()) > S3_MAX_KEY_BYTES:
            raise UsageError(
                f"invalid key {key[:60]!r}…: with the store prefix it is {len(full.encode())} "
                f"bytes long, S3 allows {S3_MAX_KEY_BYTES}",
                hint="use a shorter key, or a shorter prefix in the store URL",
            )
        return full

    def _call(self, what: str, full: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` under the retry policy; ``full`` is the bucket key it touches."""
        endpoint = self.endpoint or "AWS S3"
        return self.policy.call(
            fn,
            what=f"{what} s3://{self.bucket}/{full}",
            classify=lambda e: classify(e, bucket=self.bucket, key=full, endpoint=endpoint),
            give_up=gave_up,
        )

    def _head(self, key: str) -> dict[str, Any]:
        full = self._full(key)
        head: dict[str, Any] = self._call(
            "head", full, lambda: self.client.head_object(Bucket=self.bucket, Key=full)
        )
        return head

    def _info_from_head(self, key: str, head: dict[str, Any]) -> ObjectInfo:
        sha = head.get("Metadata", {}).get(META, "")
        if not sha:
            raise IntegrityError(
                f"s3://{self.bucket}/{self._full(key)} has no recorded SHA-256 "
                f"(metadata x-amz-meta-{META} missing)",
                hint="it was not written by the store; put it again with "
                "'python -m build_support.store put'",
            )
        return ObjectInfo(key=key, size=int(head["ContentLength"]), sha256=sha)

    # -- primitives -------------------------------------------------------------
    def info(self, key: str) -> ObjectInfo:
        return self._info_from_head(key, self._head(key))

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except ArtifactNotFoundError:
            return False
        return True

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        keys.validate_prefix(prefix)
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        found: list[str] = []

        token: str | None = None
        while True:
            kw: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full}
            if token:
                kw["ContinuationToken"] = token
            resp: dict[str, Any] = self._call(
                "list", full, functools.partial(self.client.list_objects_v2, **kw)
            )
            found.extend(obj["Key"][strip:] for obj in resp.get("Contents", []))
            token = resp.get("NextContinuationToken")
            if not resp.get("IsTruncated") or not token:
                break
        infos = []
        for key in sorted(found):
            with contextlib.suppress(IntegrityError, ArtifactNotFoundError):
                infos.append(self.info(key))
        return infos

    def _check_waitable(self, key: str) -> None:
        # A HEAD says only "404": listing the key tells a missing bucket (NoSuchBucket)
        # and a prefix this identity may not read (403) apart from "not there yet".
        full = self._full(key)
        self._call(
            "list",
            full,
            lambda: self.client.list_objects_v2(Bucket=self.bucket, Prefix=full, MaxKeys=1),
        )

    def _etag(self, path: Path, size: int) -> str:
        """The ETag S3 gives ``path``'s content when this store uploads it."""
        chunk = self.transfer.multipart_chunksize
        if size < self.transfer.multipart_threshold:
            digest = hashlib.md5(usedforsecurity=False)
            with path.open("rb") as fh:
                while data := fh.read(1024 * 1024):
                    digest.update(data)
            return digest.hexdigest()
        parts: list[bytes] = []
        with path.open("rb") as fh:
            while data := fh.read(chunk):
                parts.append(hashlib.md5(data, usedforsecurity=False).digest())
        whole = hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
        return f"{whole}-{len(parts)}"

    def _holds(self, key: str, path: Path, size: int, sha256: str) -> ObjectInfo | None:
        try:
            head = self._head(key)
        except ArtifactNotFoundError:
            return None
        try:
            current = self._info_from_head(key, head)
        except IntegrityError:
            return None
        if current.size != size or current.sha256 != sha256:
            return None
        if str(head.get("ETag", "")).strip('"') != self._etag(path, size):
            log.warn(
                f"store: s3://{self.bucket}/{self._full(key)} records this SHA-256 but its "
                "ETag does not match the file's content; uploading it again"
            )
            return None
        return current

    def _upload(self, key: str, path: Path, size: int, sha256: str) -> None:
        full = self._full(key)
        if size >= self.transfer.multipart_threshold:
            self._multipart(key, full, path, size, sha256)
            return

        def attempt() -> None:
            progress = Progress("put", key, size)
            self.client.upload_file(
                str(path),
                self.bucket,
                full,
                ExtraArgs={"Metadata": {META: sha256}},
                Config=self.transfer,
                Callback=progress,
            )
            progress.finish()

        self._call("put", full, attempt)

    def _download(self, key: str, dest: Path) -> ObjectInfo:
        full = self._full(key)
        for check in (1, 2):
            info = self.info(key)
            tmp = temp_sibling(dest, "part")
            try:

                def attempt(tmp: Path = tmp, info: ObjectInfo = info) -> None:
                    with contextlib.suppress(FileNotFoundError):
                        tmp.unlink()
                    progress = Progress("get", key, info.size)
                    self.client.download_file(
                        self.bucket, full, str(tmp), Config=self.transfer, Callback=progress
                    )
                    progress.finish()

                self._call("get", full, attempt)
                got = sha256_file(tmp)
                if got == info.sha256:
                    tmp.replace(dest)
                    return info
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            # The object may have been replaced between head and download: look again.
            if check == 1 and self.info(key).sha256 != info.sha256:
                continue
            break
        raise IntegrityError(
            f"s3://{self.bucket}/{full} is corrupt: its content hashes to {got[:16]}…, "
            f"the recorded SHA-256 is {info.sha256[:16]}…; nothing was written to {dest}",
            hint="re-run the stage that produces it, or delete it with "
            f"'python -m build_support.store rm {key}'",
        )

    def _multipart(self, key: str, full: str, path: Path, size: int, sha256: str) -> None:
        """A multipart upload that is completed, or aborted whatever went wrong."""
        created: dict[str, Any] = self._call(
            "start multipart upload",
            full,
            lambda: self.client.create_multipart_upload(
                Bucket=self.bucket, Key=full, Metadata={META: sha256}
            ),
        )
        upload_id = str(created["UploadId"])
        try:
            parts = self._send_parts(key, full, path, size=size, sha256=sha256, upload_id=upload_id)
            self._call(
                "complete multipart upload",
                full,
                lambda: self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=full,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                ),
            )
        except BaseException:
            self._abort(full, upload_id)
            raise

    def _send_parts(
        self, key: str, full: str, path: Path, *, size: int, sha256: str, upload_id: str
    ) -> builtins.list[CompletedPartTypeDef]:
        """Upload ``path`` in parts, :data:`PART_WORKERS` at a time, each retried on its own.

        The file is read (and hashed) in order here, and at most ``PART_WORKERS`` parts
        are in memory or in flight; IntegrityError if it changed since it was hashed.
        """
        progress = Progress("put", key, size)
        progress_lock = threading.Lock()

        def send(number: int, data: bytes) -> CompletedPartTypeDef:
            resp: dict[str, Any] = self._call(
                f"put part {number} of",
                full,
                functools.partial(
                    self.client.upload_part,
                    Bucket=self.bucket,
                    Key=full,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                ),
            )
            with progress_lock:
                progress(len(data))
            return {"ETag": resp["ETag"], "PartNumber": number}

        digest = hashlib.sha256()
        parts: builtins.list[CompletedPartTypeDef] = []
        pending: set[Future[CompletedPartTypeDef]] = set()
        pool = ThreadPoolExecutor(max_workers=PART_WORKERS, thread_name_prefix="s3-part")
        try:
            with path.open("rb") as fh:
                number = 0
                while data := fh.read(self.transfer.multipart_chunksize):
                    digest.update(data)
                    number += 1
                    if len(pending) >= PART_WORKERS:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        parts.extend(f.result() for f in finished)  # a failed part raises
                    pending.add(pool.submit(send, number, data))
            finished, pending = wait(pending)
            parts.extend(f.result() for f in finished)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        progress.finish()
        if digest.hexdigest() != sha256:
            raise IntegrityError(
                f"{path} changed while it was uploaded to s3://{self.bucket}/{full} "
                f"(sha256 {digest.hexdigest()[:12]}… != {sha256[:12]}…)",
                hint="make sure nothing writes the file during the upload, then retry",
            )
        return sorted(parts, key=lambda part: part["PartNumber"])

    def _abort(self, full: str, upload_id: str) -> None:
        """Abort a failed multipart upload (a short retry of its own); warn if S3 refuses."""
        policy = RetryPolicy(
            attempts=3,
            total_seconds=min(30.0, self.settings.retry_total_seconds),
            clock=self.clock,
            sleep=self.sleep,
        )
        endpoint = self.endpoint or "AWS S3"
        try:
            policy.call(
                lambda: self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=full, UploadId=upload_id
                ),
                what=f"abort multipart upload of s3://{self.bucket}/{full}",
                classify=lambda e: classify(e, bucket=self.bucket, key=full, endpoint=endpoint),
                give_up=gave_up,
            )
        except Exception as exc:  # noqa: BLE001 - the upload's own error is the one to raise
            log.warn(
                f"store: could not abort the failed multipart upload {upload_id} of "
                f"s3://{self.bucket}/{full}: {exc}; its parts stay until a bucket lifecycle "
                "rule (AbortIncompleteMultipartUpload) removes them"
            )

    def _copy(self, src: str, dst: str) -> ObjectInfo:
        head = self._head(src)
        info = self._info_from_head(src, head)
        src_full, dst_full = self._full(src), self._full(dst)
        extra = {
            "Metadata": {META: info.sha256},
            "MetadataDirective": "REPLACE",
            "CopySourceIfMatch": head["ETag"],
        }
        self._call(
            "copy",
            dst_full,
            lambda: self.client.copy(
                {"Bucket": self.bucket, "Key": src_full},
                self.bucket,
                dst_full,
                ExtraArgs=extra,
                Config=self.transfer,
            ),
        )
        return ObjectInfo(key=dst, size=info.size, sha256=info.sha256)

    # -- conditional writes: If-None-Match / If-Match (S3 since 2024; moto_server too) --------
    def _conditional(self, what: str, full: str, fn: Callable[[], Any]) -> Any:
        """``fn`` under the retry policy; ``_UNMET`` when S3 says its condition failed
        (412), a concurrent conditional write won (409), or the object is gone (404)."""

        def attempt() -> Any:
            try:
                return fn()
            except bexc.ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
                if code in UNMET_CODES or (not code and status in (409, 412)):
                    return _UNMET
                raise

        return self._call(what, full, attempt)

    def _create_if_absent(self, key: str, body: bytes) -> str | None:
        full = self._full(key)
        sha = hashlib.sha256(body).hexdigest()
        put = functools.partial(self.client.put_object, Bucket=self.bucket, Key=full)
        resp = self._conditional(
            "create", full, lambda: put(Body=body, IfNoneMatch="*", Metadata={META: sha})
        )
        return None if resp is _UNMET else str(resp["ETag"])

    def _read_tagged(self, key: str) -> tuple[bytes, str] | None:
        full = self._full(key)

        def read() -> tuple[bytes, str]:
            resp = self.client.get_object(Bucket=self.bucket, Key=full)
            return resp["Body"].read(), str(resp["ETag"])

        got = self._conditional("get", full, read)
        return None if got is _UNMET else got

    def _replace_if(self, key: str, body: bytes, tag: str) -> str | None:
        full = self._full(key)
        sha = hashlib.sha256(body).hexdigest()
        put = functools.partial(self.client.put_object, Bucket=self.bucket, Key=full)
        resp = self._conditional(
            "replace", full, lambda: put(Body=body, IfMatch=tag, Metadata={META: sha})
        )
        return None if resp is _UNMET else str(resp["ETag"])

    def _delete_if(self, key: str, tag: str) -> bool:
        full = self._full(key)
        resp = self._conditional("delete", full, lambda: self.client.delete_object(
            Bucket=self.bucket, Key=full, IfMatch=tag))  # fmt: skip
        return resp is not _UNMET

    def delete(self, key: str) -> bool:
        if not self.exists(key):
            return False
        full = self._full(key)
        self._call("delete", full, lambda: self.client.delete_object(Bucket=self.bucket, Key=full))
        return True
