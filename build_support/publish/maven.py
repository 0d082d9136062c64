"""Maven: the JARs and POMs of the commit, signed and checksummed, to a Maven repository
over HTTP PUT (``maven-repository``) or to Maven Central through the Central Portal
Publisher API (``central-portal``, :mod:`.portal`).

Artifacts come from the store (``jars/{branch}/{sha}/<os>/``; the multiplatform runtime
JAR replaces the per-OS one). The commit is read from every JAR's manifest (the attribute
``[tool.build_support.jars] commit_manifest_entry``, :func:`build_support.jarpack.jar_commit`);
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

from build_support import jarpack, log
from build_support.errors import ArtifactNotFoundError, ConfigError, PublishError, VerificationError
from build_support.publish import attestations, credentials, http, mavenrepo
from build_support.publish.journal import Journal
from build_support.publish.mavenrepo import Gav
from build_support.publish.model import Artifact, Phase, PlanItem, Remote, RunEnv, decide
from build_support.publish.portal import PortalClient
from build_support.publish.settings import WHERE
from build_support.publish.signing import CHECKSUMS, Signer, checksum
from build_support.settings import JarsSettings
from build_support.store import keys

OS_ORDER = ("multiplatform", "linux", "darwin", "windows")


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
        self.now = dt.datetime.now(dt.timezone.utc)
        self.portal: PortalClient | None = None
        if s.transport == "central-portal":
            self.portal = PortalClient(self, env)

    # -- collect -----------------------------------------------------------------------------
    def _files(self) -> dict[str, tuple[str, int, str]]:
        """``{file name: (store key, size, sha256)}``, the multiplatform copy preferred."""
        ctx = self.env.ctx
        prefix = f"{keys.JARS}/{ctx.branch}/{ctx.sha}/"
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
                        jarpack.jar_commit(self.dir / name, entry=self.commit_entry)
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

    def remote_sha256(self, gav: Gav, name: str) -> str | None:
        """SHA-256 of what the repository holds for this file (the latest snapshot build)."""
        remote_name = name
        if gav.snapshot:
            state = self._snapshot_state(gav)
            parts = mavenrepo.split_name(name, gav)
            if state is None or parts is None or parts not in state.values:
                return None
            value = state.values[parts]
            classifier, ext = parts
            remote_name = f"{gav.artifact}-{value}{'-' + classifier if classifier else ''}.{ext}"
        resp = self._get(f"{self._base(gav)}/{gav.directory()}/{remote_name}")
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise PublishError(f"the repository answered {resp.status} for {remote_name}")
        return hashlib.sha256(resp.body).hexdigest()

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
            # A snapshot with other bytes is not a conflict: it becomes the next build.
            mutable = self.gavs[a.name].snapshot
            items.append(decide(a, Remote(present=there is not None, digest=there),
                                mutable=mutable))  # fmt: skip
        return items

    # -- send --------------------------------------------------------------------------------
    def preflight(self, items: Sequence[PlanItem]) -> None:
        every = [i.artifact for i in items if i.artifact.path is not None]
        if not every:  # nothing to sign (e.g. only the Portal's publish step is left)
            return
        self.signer = Signer(self.settings, root=self.env.cfg.root, env=dict(self.env.env))
        fpr = self.signer.key_fingerprint()
        log.info(f"maven: signing with key {fpr[-16:]}")
        for a in every:
            assert a.path is not None  # noqa: S101
            self.signer.sign(a.path)
            for algorithm in CHECKSUMS:
                a.path.with_name(f"{a.name}.{algorithm}").write_text(
                    checksum(a.path, algorithm), encoding="ascii"
                )
        # The whole set must be publishable (what is on the target already included);
        # signatures and checksums are checked on what is about to be sent.
        sent = {f"{self.gavs[a.name].directory()}/{a.name}" for a in every}
        # Signing is done: the imported key leaves the disk now, not at the end of the run.
        self.signer.close()
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

    def _put_with_sidecars(self, url: str, path: Path) -> None:
        self._put(url, path.read_bytes())
        asc = path.with_name(path.name + ".asc")
        sidecars: list[tuple[str, bytes]] = [(".asc", asc.read_bytes())]
        for algorithm in CHECKSUMS:  # signatures get none (as Maven 3.9 deploys them)
            sidecars.append((f".{algorithm}", checksum(path, algorithm).encode()))
        for suffix, data in sidecars:
            self._put(url + suffix, data)

    def _put_metadata(self, url: str, text: str) -> None:
        data = text.encode()
        self._put(url, data)
        for algorithm in CHECKSUMS:
            self._put(f"{url}.{algorithm}", hashlib.new(algorithm, data).hexdigest().encode())

    def send(self, item: PlanItem, journal: Journal) -> None:
        if self.portal is not None:
            self.portal.send(item, journal)
            return
        a = item.artifact
        assert a.path is not None  # noqa: S101
        gav = self.gavs[a.name]
        parts = mavenrepo.split_name(a.name, gav)
        base = f"{self._base(gav)}/{gav.directory()}"
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
        self._put_with_sidecars(f"{base}/{remote_name}", a.path)
        if gav.snapshot:
            state = self._snapshots[gav]
            assert parts is not None  # noqa: S101
            text = mavenrepo.snapshot_metadata(gav, state, [parts], self.now)
            self._snapshots[gav] = mavenrepo.parse_snapshot_metadata(text) or state
            self._put_metadata(f"{base}/maven-metadata.xml", text)
        if a.name.endswith(".pom"):  # the artifact's metadata lists a version with its POM
            meta_url = f"{self._base(gav)}/{gav.artifact_directory()}/maven-metadata.xml"
            existing = self._get(meta_url)
            self._put_metadata(meta_url, mavenrepo.artifact_metadata(
                gav, existing.text() if existing.status == 200 else None, self.now))  # fmt: skip
        there = self.remote_sha256(gav, a.name)
        if there != a.digest:
            raise PublishError(
                f"{a.destination} holds {there or 'nothing'} after the upload, ours is {a.digest}"
            )

    def close(self) -> None:
        if self.signer is not None:
            self.signer.close()
