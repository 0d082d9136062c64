"""The Central Portal Publisher API (Maven Central since OSSRH closed in 2025).

One bundle zip in Maven layout (every file with ``.asc``, ``.md5``, ``.sha1``…),
``POST /api/v1/publisher/upload?name=…&publishingType=…`` (multipart, part ``bundle``,
``Authorization: Bearer base64(user:token)``), then ``POST /api/v1/publisher/status?id=…``
until ``VALIDATED`` (``USER_MANAGED``) or ``PUBLISHED`` (``AUTOMATIC``), or ``FAILED``
(its errors shown). With ``USER_MANAGED`` the upload is a ``stage`` step and
``POST /api/v1/publisher/deployment/<id>`` (then polling until ``PUBLISHED``) is the one
``release`` step, run after every other target staged. The deployment id is journaled
before polling: a lost poll leaves the item pending, and the next run asks the Portal
about that id instead of uploading again. ``GET /api/v1/publisher/published`` says
whether a version is already on Central; its bytes are compared through ``release_url``
(a read URL of Central) when one is configured, else an already published version is
refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from build_support import log
from build_support.errors import PublishError
from build_support.publish import credentials, http
from build_support.publish.journal import Journal
from build_support.publish.model import (
    Action,
    Artifact,
    MavenAccess,
    Phase,
    PlanItem,
    Remote,
    RunEnv,
    decide,
)

API = "/api/v1/publisher"
FINAL = ("PUBLISHED", "FAILED")


def bundle_zip(files: Mapping[str, Path], dest: Path) -> Path:
    """A deterministic zip of ``{path in the bundle: file}`` (sorted, fixed times)."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in sorted(files):
            info = zipfile.ZipInfo(rel, (2025, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[rel].read_bytes())
    return dest


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


class PortalClient:
    def __init__(
        self,
        target: MavenAccess,
        env: RunEnv,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.env = env
        self.settings = env.settings.maven
        self.base = self.settings.portal_url.rstrip("/") + API
        self.sleep = sleep
        self.clock = clock
        self.bundle: Path | None = None
        self.deployment: str | None = None

    def phase(self) -> Phase:
        return "stage" if self.settings.publishing_type == "USER_MANAGED" else "release"

    # -- HTTP --------------------------------------------------------------------------------
    def _auth(self) -> str:
        if self.target.password is None:
            raise PublishError(
                "no Central Portal user token",
                hint=f"export ${self.settings.username_env} and ${self.settings.password_env} "
                "(the Portal's user token pair)",
            )
        pair = f"{self.target.username}:{self.target.password.value}".encode()
        return http.bearer(base64.b64encode(pair).decode())

    def _call(self, method: str, path: str, *, data: bytes | None = None,
              content_type: str = "") -> http.Response:  # fmt: skip
        headers = {"Content-Type": content_type} if content_type else {}
        timeout = self.settings.timeout_seconds
        resp = http.request(method, self.base + path, data=data, headers=headers,
                            authorization=self._auth(), timeout=timeout)  # fmt: skip
        if resp.status >= 400:
            raise PublishError(
                f"the Portal answered {resp.status} to {method} {API}{path.partition('?')[0]}: "
                + credentials.scrub(resp.text()[:500]),
                hint="check portal_url and the user token",
            )
        return resp

    def status(self, deployment: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            self._call("POST", f"/status?{urlencode({'id': deployment})}").body
        )
        return data

    def published(self, namespace: str, name: str, version: str) -> bool:
        query = urlencode({"namespace": namespace, "name": name, "version": version})
        return bool(json.loads(self._call("GET", f"/published?{query}").body).get("published"))

    def wait(self, deployment: str, until: tuple[str, ...]) -> dict[str, Any]:
        """Poll until the state is in ``until`` or FAILED; PublishError on FAILED/timeout."""
        deadline = self.clock() + self.settings.poll_timeout_seconds
        last = ""
        while True:
            st = self.status(deployment)
            state = str(st.get("deploymentState", ""))
            if state != last:
                log.info(f"portal: deployment {deployment} is {state}")
                last = state
            if state == "FAILED":
                errors = json.dumps(st.get("errors", {}), indent=2, sort_keys=True)
                raise PublishError(
                    f"the Portal failed deployment {deployment}:\n{errors}",
                    hint="fix what the errors name, then rerun with --execute",
                )
            if state in until:
                return st
            if self.clock() >= deadline:
                raise PublishError(
                    f"deployment {deployment} still {state} after "
                    f"{self.settings.poll_timeout_seconds:.0f}s; its outcome is pending",
                    hint="rerun with --execute later: the journaled deployment is asked again",
                )
            self.sleep(self.settings.poll_interval_seconds)

    # -- plan --------------------------------------------------------------------------------
    def publish_artifact(self, files: Sequence[Artifact]) -> Artifact:
        digest = hashlib.sha256(" ".join(sorted(a.digest for a in files)).encode()).hexdigest()
        gavs = sorted({a.meta["gav"] for a in files})
        return Artifact(
            target="maven",
            name="Portal deployment: publish",
            digest=digest,
            size=0,
            commit=files[0].commit if files else "",
            version=files[0].version if files else "",
            destination="central-portal:publish " + ", ".join(gavs),
            phase="release",
            meta={"kind": "publish"},
        )

    def probe(self, artifacts: Sequence[Artifact]) -> list[PlanItem]:
        journal = Journal.load(self.env.store, self.env.ctx.sha, self.env.ctx.branch)
        known = journal.data.get("portal", {})
        self.deployment = known.get("deployment")
        state = ""
        if self.deployment:
            try:
                state = str(self.status(self.deployment).get("deploymentState", ""))
            except (http.HttpError, PublishError) as exc:
                return [decide(a, Remote(present=False, error=f"cannot ask the Portal: {exc}"))
                        for a in artifacts]  # fmt: skip
            log.info(f"portal: journaled deployment {self.deployment} is {state}")
            if state == "FAILED":
                self.deployment = None
        items: list[PlanItem] = []
        published: dict[str, bool] = {}
        for a in artifacts:
            if a.meta.get("kind") == "publish":
                done = state == "PUBLISHED"
                items.append(decide(a, Remote(present=done, digest=a.digest if done else None)))
                continue
            gav = self.target.gavs[a.name]
            if state in ("VALIDATED", "PUBLISHING", "PUBLISHED", "PENDING", "VALIDATING"):
                reason = f"in deployment {self.deployment} ({state})"
                items.append(PlanItem(artifact=a, action=Action.SKIP,
                                      remote=Remote(present=True, digest=a.digest),
                                      reason=reason))  # fmt: skip
                continue
            try:
                key = str(gav)
                if key not in published:
                    published[key] = self.published(gav.group, gav.artifact, gav.version)
            except (http.HttpError, PublishError) as exc:
                items.append(decide(a, Remote(present=False, error=f"cannot ask: {exc}")))
                continue
            if not published[key]:
                items.append(decide(a, Remote(present=False)))
            elif self.settings.release_url:
                there = self.target.remote_sha256(gav, a.name)
                items.append(decide(a, Remote(present=there is not None, digest=there)))
            else:
                items.append(decide(a, Remote(present=True, digest="(published; not comparable "
                                              "without release_url)")))  # fmt: skip
        return items

    # -- send --------------------------------------------------------------------------------
    def prepare(self, items: Sequence[PlanItem], view: Mapping[str, Path]) -> None:
        files = {i.artifact.name for i in items if i.artifact.meta.get("kind") != "publish"}
        if not files:
            return
        chosen = {rel: p for rel, p in view.items()
                  if any(rel.rsplit("/", 1)[-1].startswith(f) for f in files)}  # fmt: skip
        self.bundle = bundle_zip(chosen, self.target.dir / "central-bundle.zip")
        log.info(f"portal: bundle {self.bundle.name} with {len(chosen)} files")

    def send(self, item: PlanItem, journal: Journal) -> None:
        a = item.artifact
        want = ("VALIDATED",) if self.settings.publishing_type == "USER_MANAGED" else (
            "PUBLISHED",)  # fmt: skip
        if a.meta.get("kind") == "publish":
            if not self.deployment:
                raise PublishError("no validated deployment to publish")
            self._call("POST", f"/deployment/{self.deployment}")
            journal.data["portal"] = {"deployment": self.deployment, "state": "PUBLISHING"}
            journal.write()
            st = self.wait(self.deployment, ("PUBLISHED",))
            journal.data["portal"] = {"deployment": self.deployment, "state": "PUBLISHED"}
            journal.write()
            log.info(f"portal: published {', '.join(st.get('purls', []) or [])}")
            return
        if self.deployment is None:
            assert self.bundle is not None  # noqa: S101 - prepare made it
            body, ctype = multipart("bundle", self.bundle.name, self.bundle.read_bytes())
            name = f"{a.meta['gav']} {self.env.ctx.sha[:12]}"
            query = urlencode({"name": name, "publishingType": self.settings.publishing_type})
            resp = self._call("POST", f"/upload?{query}", data=body, content_type=ctype)
            self.deployment = resp.text().strip().strip('"')
            journal.data["portal"] = {"deployment": self.deployment, "state": "UPLOADED"}
            journal.write()
            log.info(f"portal: uploaded the bundle as deployment {self.deployment}")
        st = self.wait(self.deployment, want)
        journal.data["portal"] = {"deployment": self.deployment,
                                  "state": str(st.get("deploymentState"))}  # fmt: skip
        journal.write()
