"""Maven: the JARs and POMs of the commit, signed and checksummed, to a Maven repository
over HTTP PUT (``maven-repository``) or to Maven Central through the Central Portal
Publisher API (``central-portal``, :mod:`.portal`).

Artifacts come from the store (``jars/{branch}/{sha}/<os>/``; the multiplatform runtime
JAR replaces the per-OS one). The commit is read from every JAR's manifest (the attribute
``[tool.build_support.jars] commit_manifest_entry``, :func:`build_support.jars.pack.jar_commit`);
a POM carries none, so a module's POM takes its main JAR's commit and the parent POM the one
commit all JARs share.
Before anything is sent, every file is signed (gpg, detached, armored) and the set is
validated as Central validates a bundle (:func:`.mavenrepo.validate_bundle`).

``maven-repository``: release versions go to ``release_url`` under
``group/artifact/version/``; ``-SNAPSHOT`` versions to ``snapshot_url`` with Maven's
timestamped names and a version-level ``maven-metadata.xml``; the artifact-level
``maven-metadata.xml`` lists the version. Each file is PUT with its ``.asc`` and
``.md5``/``.sha1``/``.sha256``/``.sha512`` (missing collections are made with MKCOL, as
WebDAV servers need). What is there is read back by GET and compared by SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from pathlib import Path

from build_support import log, platforms
from build_support.errors import (
    ArtifactNotFoundError,
    BuildSupportError,
    ConfigError,
    PublishError,
    VerificationError,
)
from build_support.jars import pack
from build_support.jars.settings import JarsSettings
from build_support.publish import attestations, credentials, http, mavenrepo
from build_support.publish.journal import Journal
from build_support.publish.mavenrepo import Gav
from build_support.publish.model import Action, Artifact, Phase, PlanItem, Remote, RunEnv, decide
from build_support.publish.portal import PortalClient
from build_support.publish.settings import WHERE
from build_support.publish.signing import CHECKSUMS, Signer, checksum
from build_support.store import keys

OS_ORDER = (platforms.MULTIPLATFORM, *platforms.JAR_OSES)


class MavenTarget:
    name = "maven"

    def __init__(self, env: RunEnv) -> None:
        self.env = env
        self.settings = env.settings.maven
        s = self.settings
        self.unconfigured = ""
        if s.transport == "maven-repository" and not (s.release_url or s.snapshot_url):
            self.unconfigured = f"{WHERE}.maven.release_url/snapshot_url not set"
        if s.transport == "central-portal" and not s.portal_url:
            self.unconfigured = f"{WHERE}.maven.portal_url not set"
        if self.unconfigured and env.execute:
            raise ConfigError(self.unconfigured, hint="see docs/publish.md, section Maven")
        self.username = env.env.get(s.username_env, "") if s.username_env else ""
        self.password = credentials.read(
            env_var=s.password_env,
            file=s.password_file,
            what="Maven repository password / Portal token",
            root=env.cfg.root,
            env=env.env,
            required=False,
        )
        self.dir = env.workdir / "maven"
        #: The manifest attribute the jars stage stamped (one home: JarsSettings).
        self.commit_entry = env.cfg.section("jars", JarsSettings).commit_manifest_entry
        self.signer: Signer | None = None
        self.gavs: dict[str, Gav] = {}  # file name -> coordinates
        self.collected: list[Artifact] = []
        self._snapshots: dict[Gav, mavenrepo.SnapshotState] = {}
        #: Files the repository holds with our bytes but without their whole set.
        self._incomplete: set[str] = set()
        #: ``.asc`` files the plan found on the repository, verifying against our bytes.
        self._remote_asc: dict[str, bytes] = {}
        self.now = dt.datetime.now(dt.timezone.utc)
        self.portal: PortalClient | None = None
        if s.transport == "central-portal":
            self.portal = PortalClient(self, env)

    # -- collect -----------------------------------------------------------------------------
    def _files(self) -> dict[str, tuple[str, int, str]]:
        """``{file name: (store key, size, sha256)}``, the multiplatform copy preferred."""
        ctx = self.env.ctx
        prefix = keys.jars_commit_prefix(ctx.branch, ctx.sha)
        chosen: dict[str, tuple[str, int, str]] = {}
        rank: dict[str, int] = {}
        for o in self.env.store.list(prefix):
            os_name, _, name = o.key[len(prefix) :].partition("/")
            if "/" in name or not name.endswith((".jar", ".pom")) or os_name not in OS_ORDER:
                continue
            r = OS_ORDER.index(os_name)
            if name not in rank or r < rank[name]:
                chosen[name], rank[name] = (o.key, o.size, o.sha256), r
        return chosen

    def collect(self) -> list[Artifact]:  # noqa: PLR0912
        files = self._files()
        if not files:
            ctx = self.env.ctx
            raise ArtifactNotFoundError(
                f"no JARs or POMs of {ctx.sha} under jars/{ctx.branch}/{ctx.sha}/ in "
                f"{self.env.store.url}",
                hint="build and store them first: nox -s jars -- linux, then multiplatform",
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        for name, (key, _size, _sha) in files.items():
            self.env.store.get(key, self.dir / name)
        pom_gavs = {}
        for name in files:
            if name.endswith(".pom"):
                gav, packaging = mavenrepo.pom_gav(self.dir / name)
                pom_gavs[name] = (gav, packaging)
        for name in files:
            owner = next(
                (g for g, _p in pom_gavs.values() if mavenrepo.split_name(name, g) is not None
                 and not (name.endswith(".pom") and pom_gavs.get(name, (g,))[0] != g)),
                None,
            )  # fmt: skip
            if owner is None:
                raise VerificationError(
                    f"{name} in the store belongs to none of the POMs "
                    + ", ".join(sorted(pom_gavs)),
                    hint="rebuild the JARs: nox -s jars -- linux",
                )
            self.gavs[name] = owner
        commits: dict[str, str] = {}
        for name in files:
            if name.endswith(".jar"):
                try:
                    commits[name] = (
                        pack.jar_commit(self.dir / name, entry=self.commit_entry)
                        or "(none in manifest)"
                    )
                except VerificationError as exc:
                    commits[name] = f"unreadable ({exc.message})"
        shared = set(commits.values())
        out: list[Artifact] = []
        for name, (key, size, sha) in sorted(files.items()):
            gav = self.gavs[name]
            if name in commits:
                commit = commits[name]
            else:  # a POM: its main JAR's commit, else (the parent) the one all JARs share
                main = f"{gav.artifact}-{gav.version}.jar"
                commit = commits.get(main) or (shared.pop() if len(shared) == 1 else
                                                "(JARs of several commits)")  # fmt: skip
                shared = set(commits.values())
            out.append(
                Artifact(
                    target=self.name,
                    name=name,
                    digest=sha,
                    size=size,
                    commit=commit,
                    version=gav.version,
                    destination=self._destination(gav, name),
                    phase=self._phase(gav),
                    path=self.dir / name,
                    meta={"gav": str(gav), "attestation": key},
                )
            )
        out += attestations.maven_files(out, env=self.env, workdir=self.dir, gavs=self.gavs,
                                        destination=self._destination)  # fmt: skip
        if self.portal is not None and self.settings.publishing_type == "USER_MANAGED":
            out.append(self.portal.publish_artifact(out))
        problems = mavenrepo.validate_bundle(
            self._bundle_view([a for a in out if a.path is not None]), require_signatures=False
        )
        for p in problems:
            log.warn(f"maven: Central would reject: {p}")
        self.problems = problems
        self.collected = [a for a in out if a.path is not None]
        return out

    def _phase(self, gav: Gav) -> Phase:
        if self.portal is not None:
            return self.portal.phase()
        return "stage"

    def _base(self, gav: Gav) -> str:
        s = self.settings
        return (s.snapshot_url if gav.snapshot else s.release_url).rstrip("/")

    def _destination(self, gav: Gav, name: str) -> str:
        if self.portal is not None:
            return f"central-portal:{gav.directory()}/{name}"
        base = self._base(gav) or "(unset)"
        suffix = " (timestamped)" if gav.snapshot else ""
        return f"{base}/{gav.directory()}/{name}{suffix}"

    def _bundle_view(self, artifacts: Sequence[Artifact]) -> dict[str, Path]:
        view: dict[str, Path] = {}
        for a in artifacts:
            assert a.path is not None  # noqa: S101 - collect sets it
            rel = f"{self.gavs[a.name].directory()}/{a.name}"
            view[rel] = a.path
            for side in [a.path.with_name(a.name + ".asc")] + [
                a.path.with_name(f"{a.name}.{c}") for c in CHECKSUMS
            ]:
                if side.is_file():
                    view[f"{rel}{side.name[len(a.name) :]}"] = side
        return view

    # -- look --------------------------------------------------------------------------------
    def _auth(self) -> str | None:
        if self.password is None:
            return None
        return http.basic(self.username, self.password.value)

    def _get(self, url: str) -> http.Response:
        return http.request("GET", url, authorization=self._auth(),
                            timeout=self.settings.timeout_seconds)  # fmt: skip

    def _snapshot_state(self, gav: Gav) -> mavenrepo.SnapshotState | None:
        resp = self._get(f"{self._base(gav)}/{gav.directory()}/maven-metadata.xml")
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise PublishError(f"the repository answered {resp.status} for {gav} metadata")
        return mavenrepo.parse_snapshot_metadata(resp.text())

    def remote_name(self, gav: Gav, name: str) -> str | None:
        """The file's name in the repository: ``name``, or for a snapshot the timestamped
        name of the latest build that the version's ``maven-metadata.xml`` lists (None:
        no build lists it)."""
        if not gav.snapshot:
            return name
        state = self._snapshot_state(gav)
        parts = mavenrepo.split_name(name, gav)
        if state is None or parts is None or parts not in state.values:
            return None
        value = state.values[parts]
        classifier, ext = parts
        return f"{gav.artifact}-{value}{'-' + classifier if classifier else ''}.{ext}"

    def _fetch(self, url: str) -> bytes | None:
        """The bytes at ``url``; None when the repository has nothing there (404)."""
        resp = self._get(url)
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise PublishError(f"the repository answered {resp.status} for {url}")
        return resp.body

    def remote_sha256(self, gav: Gav, name: str) -> str | None:
        """SHA-256 of what the repository holds for this file (the latest snapshot build)."""
        remote_name = self.remote_name(gav, name)
        if remote_name is None:
            return None
        body = self._fetch(f"{self._base(gav)}/{gav.directory()}/{remote_name}")
        return None if body is None else hashlib.sha256(body).hexdigest()

    # -- the set: file, signature, checksums, metadata ----------------------------------------
    def _metadata_urls(self, gav: Gav, name: str) -> list[str]:
        """The ``maven-metadata.xml`` files that must list ``name``'s version or build."""
        urls = []
        if gav.snapshot:
            urls.append(f"{self._base(gav)}/{gav.directory()}/maven-metadata.xml")
        if name.endswith(".pom"):
            urls.append(f"{self._base(gav)}/{gav.artifact_directory()}/maven-metadata.xml")
        return urls

    def _verifies(self, path: Path, asc: bytes) -> bool | None:
        """Whether ``asc`` is a good signature of ``path`` by the signing key (None: no
        key to check it with, e.g. a plan run without the key)."""
        signer = self._signer(required=False)
        if signer is None:
            return None
        copy = self.dir / "remote" / (path.name + ".asc")
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(asc)
        try:
            signer.verify(path, copy)
        except VerificationError:
            return False
        return True

    def _checksum_problems(self, url: str, data_sha: dict[str, str], label: str) -> list[str]:
        problems = []
        for algorithm in CHECKSUMS:
            got = self._fetch(f"{url}.{algorithm}")
            if got is None:
                problems.append(f"{label}.{algorithm} missing")
            elif (got.decode("ascii", "replace").split() or [""])[0].lower() != data_sha[algorithm]:
                problems.append(f"{label}.{algorithm} does not match")
        return problems

    def set_problems(self, gav: Gav, a: Artifact, *, asc_bytes: bytes | None = None) -> list[str]:
        """What the repository lacks of the set of ``a``, whose main file it holds with our
        bytes: its ``.asc`` (a good signature of our bytes by the signing key; after a
        send: exactly ``asc_bytes``), its four checksums (each the checksum of our bytes)
        and the ``maven-metadata.xml`` that lists it (with checksums matching the
        metadata's bytes). Empty: the set is complete."""
        assert a.path is not None  # noqa: S101 - collect sets it
        remote_name = self.remote_name(gav, a.name) or a.name
        url = f"{self._base(gav)}/{gav.directory()}/{remote_name}"
        sums = {c: checksum(a.path, c) for c in CHECKSUMS}
        problems = self._checksum_problems(url, sums, remote_name)
        asc = self._fetch(url + ".asc")
        if asc is None:
            problems.append(f"{remote_name}.asc missing")
        elif asc_bytes is not None:
            if asc != asc_bytes:
                problems.append(f"{remote_name}.asc is not the signature sent")
        elif self._verifies(a.path, asc) is False:
            problems.append(f"{remote_name}.asc does not verify")
        else:  # a good signature of our bytes (or no key to check it in a plan run)
            self._remote_asc[a.name] = asc
        for meta_url in self._metadata_urls(gav, a.name):
            label = meta_url[len(self._base(gav)) + 1 :]
            meta = self._fetch(meta_url)
            if meta is None:
                problems.append(f"{label} missing")
                continue
            if not meta_url.endswith(f"/{gav.version}/maven-metadata.xml") and (
                gav.version not in mavenrepo.listed_versions(meta.decode("utf-8", "replace"))
            ):
                problems.append(f"{label} does not list {gav.version}")
                continue
            meta_sums = {c: hashlib.new(c, meta).hexdigest() for c in CHECKSUMS}
            problems += self._checksum_problems(meta_url, meta_sums, label)
        return problems

    def probe(self, artifacts: Sequence[Artifact]) -> list[PlanItem]:
        if self.portal is not None and not self.unconfigured:
            return self.portal.probe(artifacts)
        items: list[PlanItem] = []
        for a in artifacts:
            if self.unconfigured:
                items.append(decide(a, Remote(present=False, error=self.unconfigured)))
                continue
            try:
                there = self.remote_sha256(self.gavs[a.name], a.name)
            except (http.HttpError, PublishError) as exc:
                items.append(decide(a, Remote(present=False, error=f"cannot ask: {exc}")))
                continue
            remote = Remote(present=there is not None, digest=there)
            if there == a.digest:
                try:
                    problems = self.set_problems(self.gavs[a.name], a)
                except (http.HttpError, PublishError) as exc:
                    items.append(decide(a, Remote(present=False, error=f"cannot ask: {exc}")))
                    continue
                if problems:  # ours, but not the whole set: complete it, never skip it
                    self._incomplete.add(a.name)
                    items.append(PlanItem(artifact=a, action=Action.SEND, remote=remote,
                                          reason="incomplete set, completing: "
                                          + "; ".join(problems)))  # fmt: skip
                    continue
            # A snapshot with other bytes is not a conflict: it becomes the next build.
            mutable = self.gavs[a.name].snapshot
            items.append(decide(a, remote, mutable=mutable))
        return items

    # -- send --------------------------------------------------------------------------------
    def _signer(self, *, required: bool = True) -> Signer | None:
        """The signer, made once (its key imported once); ``required=False``: None when
        there is no key to sign or verify with."""
        if self.signer is None:
            signer: Signer | None = None
            try:
                signer = Signer(self.settings, root=self.env.cfg.root, env=dict(self.env.env))
                signer.key_fingerprint()
            except BuildSupportError:  # no key, or one gpg refuses: preflight says why
                if signer is not None:
                    signer.close()
                if required:
                    raise
                return None
            self.signer = signer
        return self.signer

    def preflight(self, items: Sequence[PlanItem]) -> None:
        every = [i.artifact for i in items if i.artifact.path is not None]
        if not every:  # nothing to sign (e.g. only the Portal's publish step is left)
            return
        signer = self._signer()
        assert signer is not None  # noqa: S101 - required
        fpr = signer.key_fingerprint()
        log.info(f"maven: signing with key {fpr[-16:]}")
        for a in every:
            assert a.path is not None  # noqa: S101
            signer.sign(a.path)
            for algorithm in CHECKSUMS:
                a.path.with_name(f"{a.name}.{algorithm}").write_text(
                    checksum(a.path, algorithm), encoding="ascii"
                )
        # The whole set must be publishable (what is on the target already included);
        # signatures and checksums are checked on what is about to be sent.
        sent = {f"{self.gavs[a.name].directory()}/{a.name}" for a in every}
        # Signing is done: the imported key leaves the disk now, not at the end of the run.
        signer.close()
        self.signer = None
        problems = mavenrepo.validate_bundle(self._bundle_view(self.collected), to_sign=sent)
        if problems:
            raise VerificationError(
                "the Maven artifacts are not publishable:\n  " + "\n  ".join(problems),
                hint="fix the POMs / build sources and javadoc JARs: nox -s jars -- linux",
            )
        if self.portal is not None:
            self.portal.prepare(items, self._bundle_view(every))

    def _put(self, url: str, data: bytes) -> None:
        resp = http.request("PUT", url, data=data, authorization=self._auth(),
                            timeout=self.settings.timeout_seconds)  # fmt: skip
        if resp.status == 409:  # WebDAV: the parent collection does not exist yet
            self._mkcols(url)
            resp = http.request("PUT", url, data=data, authorization=self._auth(),
                                timeout=self.settings.timeout_seconds)  # fmt: skip
        if resp.status not in (200, 201, 204):
            raise PublishError(
                f"PUT {url} answered {resp.status}: {credentials.scrub(resp.text()[:200])}",
                hint="check release_url/snapshot_url and the credentials",
            )

    def _mkcols(self, url: str) -> None:
        """MKCOL every collection above ``url`` top-down (405: it exists already)."""
        scheme, _, rest = url.partition("://")
        host, _, path = rest.partition("/")
        current = f"{scheme}://{host}"
        for part in path.split("/")[:-1]:
            current = f"{current}/{part}"
            resp = http.request("MKCOL", current + "/", authorization=self._auth(),
                                timeout=self.settings.timeout_seconds)  # fmt: skip
            if resp.status not in (201, 301, 405):
                raise PublishError(f"MKCOL {current}/ answered {resp.status}")

    def _ensure(self, url: str, data: bytes, *, check: bool) -> None:
        """PUT ``data`` at ``url``; ``check``: only when the repository lacks these bytes."""
        if check and self._fetch(url) == data:
            return
        self._put(url, data)

    def _ensure_checksums(self, url: str, data: bytes, *, check: bool) -> None:
        for algorithm in CHECKSUMS:  # signatures get none (as Maven 3.9 deploys them)
            self._ensure(f"{url}.{algorithm}", hashlib.new(algorithm, data).hexdigest().encode(),
                         check=check)  # fmt: skip

    def _ensure_signature(self, url: str, path: Path, *, check: bool) -> bytes:
        """The ``.asc`` the repository holds afterwards: the one the plan found verifying
        (``check``, still there), else the one signed in preflight, PUT now."""
        if check:
            seen = self._remote_asc.get(path.name)
            if seen is not None and self._fetch(url + ".asc") == seen:
                return seen
        asc = path.with_name(path.name + ".asc").read_bytes()
        self._put(url + ".asc", asc)
        return asc

    def _ensure_artifact_metadata(self, gav: Gav, *, check: bool) -> None:
        """The artifact-level ``maven-metadata.xml`` lists ``gav.version``, with checksums."""
        url = f"{self._base(gav)}/{gav.artifact_directory()}/maven-metadata.xml"
        existing = self._fetch(url)
        text = existing.decode("utf-8", "replace") if existing is not None else None
        if existing is not None and check and gav.version in mavenrepo.listed_versions(text):
            self._ensure_checksums(url, existing, check=True)  # complete, don't rewrite
            return
        data = mavenrepo.artifact_metadata(gav, text, self.now).encode()
        self._put(url, data)
        self._ensure_checksums(url, data, check=False)

    def send(self, item: PlanItem, journal: Journal) -> None:
        """The whole set, in this order: the file, its ``.asc``, its checksums, then the
        metadata that makes it visible. An item whose file is there with our bytes
        (``incomplete set`` in the plan) gets only the members the repository lacks."""
        if self.portal is not None:
            self.portal.send(item, journal)
            return
        a = item.artifact
        assert a.path is not None  # noqa: S101
        gav = self.gavs[a.name]
        parts = mavenrepo.split_name(a.name, gav)
        base = f"{self._base(gav)}/{gav.directory()}"
        completing = a.name in self._incomplete
        remote_name = self.remote_name(gav, a.name) if completing else None
        if remote_name is None:  # a new file (or, for a snapshot, a new build)
            completing = False
            remote_name = a.name
            if gav.snapshot:
                state = self._snapshots.get(gav)
                if state is None:
                    previous = self._snapshot_state(gav)
                    state = mavenrepo.SnapshotState(
                        mavenrepo.snapshot_timestamp(self.now),
                        (previous.build + 1) if previous else 1,
                        previous.values if previous else {},
                    )
                    self._snapshots[gav] = state
                assert parts is not None  # noqa: S101 - collect checked it
                remote_name = mavenrepo.snapshot_name(gav, *parts, state.timestamp, state.build)
            self._put(f"{base}/{remote_name}", a.path.read_bytes())
        url = f"{base}/{remote_name}"
        asc = self._ensure_signature(url, a.path, check=completing)
        self._ensure_checksums(url, a.path.read_bytes(), check=completing)
        if gav.snapshot:
            meta_url = f"{base}/maven-metadata.xml"
            if completing:
                existing = self._fetch(meta_url)
                if existing is not None:
                    self._ensure_checksums(meta_url, existing, check=True)
            else:
                state = self._snapshots[gav]
                assert parts is not None  # noqa: S101
                text = mavenrepo.snapshot_metadata(gav, state, [parts], self.now)
                self._snapshots[gav] = mavenrepo.parse_snapshot_metadata(text) or state
                self._put(meta_url, text.encode())
                self._ensure_checksums(meta_url, text.encode(), check=False)
        if a.name.endswith(".pom"):  # the artifact's metadata lists a version with its POM
            self._ensure_artifact_metadata(gav, check=completing)
        there = self.remote_sha256(gav, a.name)
        if there != a.digest:
            raise PublishError(
                f"{a.destination} holds {there or 'nothing'} after the upload, ours is {a.digest}"
            )
        problems = self.set_problems(gav, a, asc_bytes=asc)
        if problems:
            raise PublishError(f"{a.destination}: the set is incomplete after the upload: "
                               + "; ".join(problems))  # fmt: skip

    def close(self) -> None:
        if self.signer is not None:
            self.signer.close()
