"""PyPI: every stored wheel of the commit to a PyPI-compatible index with twine.

What is there is read from the index's simple API (PEP 691 JSON, else the PEP 503 HTML
page) by SHA-256 before anything is uploaded, and read again after every upload (and
after any upload error, because the upload may have gone through): an identical file is
a skip, the same name with other bytes a conflict naming both hashes. ``twine check``
runs on every file before the first upload. PyPI uploads are final (a file name can
never be reused), so they run in the ``release`` phase, after every reversible step.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import urllib.parse
import zipfile
from collections.abc import Sequence
from html.parser import HTMLParser

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from build_support import cmd, log, wheelfile
from build_support.errors import (
    ArtifactNotFoundError,
    CommandFailedError,
    ConfigError,
    PublishError,
    VerificationError,
)
from build_support.publish import credentials, http
from build_support.publish.journal import Journal, journal_key
from build_support.publish.model import Action, Artifact, PlanItem, Remote, RunEnv, decide
from build_support.publish.settings import WHERE
from build_support.store import keys
from build_support.store import wheels as store_wheels

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None


def parse_simple(body: str, content_type: str, base_url: str) -> dict[str, tuple[str | None, str]]:
    """``{filename: (sha256 or None, absolute url)}`` from a simple-API project page."""
    files: dict[str, tuple[str | None, str]] = {}
    if content_type.startswith((JSON_TYPE, "application/json")):
        for f in json.loads(body).get("files", []):
            url = urllib.parse.urljoin(base_url, f["url"])
            files[f["filename"]] = (f.get("hashes", {}).get("sha256"), url)
        return files
    parser = _Links()
    parser.feed(body)
    for href, text in parser.links:
        url, _, fragment = href.partition("#")
        name = text or urllib.parse.unquote(url.rstrip("/").rsplit("/", 1)[-1])
        algo, _, value = fragment.partition("=")
        files[name] = (value.lower() if algo == "sha256" and value else None,
                       urllib.parse.urljoin(base_url, url))  # fmt: skip
    return files


def _version_of(filename: str) -> str:
    """The version a distribution file on an index belongs to ("" when not one)."""
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return ""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class PypiTarget:
    name = "pypi"

    def __init__(self, env: RunEnv) -> None:
        self.env = env
        self.settings = env.settings.pypi
        missing = [k for k in ("repository_url", "index_url") if not getattr(self.settings, k)]
        #: Why the index cannot be asked ("" when it can): plan mode still lists the files.
        self.unconfigured = ""
        if missing:
            self.unconfigured = f"{WHERE}.pypi.{' and '.join(missing)} not set"
            if env.execute:
                raise ConfigError(
                    self.unconfigured,
                    hint="e.g. repository_url = 'https://upload.example.com/legacy/', index_url "
                    "= 'https://example.com/simple/'; see docs/publish.md",
                )
        self.index_url = self.settings.index_url.rstrip("/") + "/"
        self._password: credentials.Secret | None = None
        #: ``(project, version)`` that ``--repair-partial`` removes before resending.
        self._repair: set[tuple[str, str]] = set()
        self._removed: set[tuple[str, str]] = set()
        self._username = self.settings.username
        if self.settings.username_env and env.env.get(self.settings.username_env):
            self._username = env.env[self.settings.username_env]
        # Read now so that a missing credential fails before anything is sent.
        self._password = credentials.read(
            env_var=self.settings.password_env,
            file=self.settings.password_file,
            what="PyPI token/password",
            root=env.cfg.root,
            env=env.env,
            required=env.execute,
        )

    # -- collect -----------------------------------------------------------------------------
    def collect(self) -> list[Artifact]:
        ctx = self.env.ctx
        prefix = keys.commit_prefix(ctx.branch, ctx.sha)
        objects = store_wheels.commit_wheels(self.env.store, branch=ctx.branch, sha=ctx.sha)
        if not objects:
            raise ArtifactNotFoundError(
                f"no wheels of {ctx.sha} under {prefix} in {self.env.store.url}",
                hint="build and store them first: nox -s wheel",
            )
        dest_dir = self.env.workdir / "pypi"
        out: list[Artifact] = []
        for o in objects:
            path = dest_dir / o.key.rsplit("/", 1)[-1]
            self.env.store.get(o.key, path)
            name = wheelfile.parse_name(path.name)
            try:
                commit = wheelfile.read_commit(path)  # fails closed: placeholder, non-SHA, two
            except VerificationError as exc:
                commit = f"unreadable ({exc.message})"
            out.append(
                Artifact(
                    target=self.name,
                    name=path.name,
                    digest=o.sha256,
                    size=o.size,
                    commit=commit,
                    version=name.version,
                    destination=f"{self.settings.repository_name}:{name.distribution}/{path.name}",
                    phase="release",
                    path=path,
                    meta={
                        "project": str(canonicalize_name(name.distribution)),
                        "attestation": o.key,
                    },
                )
            )
        return out

    # -- look --------------------------------------------------------------------------------
    def _auth(self) -> str | None:
        if self._password is None:
            return None
        return http.basic(self._username, self._password.value)

    def index_files(self, project: str) -> dict[str, tuple[str | None, str]]:
        """What the index holds for ``project``: ``{filename: (sha256, url)}``."""
        url = f"{self.index_url}{project}/"
        auth = self._auth() if self.settings.auth_for_reads else None
        resp = http.request(
            "GET",
            url,
            headers={"Accept": f"{JSON_TYPE}, text/html;q=0.1"},
            authorization=auth,
            timeout=self.settings.timeout_seconds,
        )
        if resp.status == 404:
            return {}
        if resp.status != 200:
            raise PublishError(
                f"the index answered {resp.status} for {url}",
                hint="check index_url and the credentials in [tool.build_support.publish.pypi]",
            )
        ctype = next((v for k, v in resp.headers.items() if k.lower() == "content-type"), "")
        files = parse_simple(resp.text(), ctype, resp.url or url)
        for name, (sha, file_url) in list(files.items()):
            if sha is None:  # an index without hashes: hash the file itself
                got = http.request("GET", file_url, authorization=auth,
                                   timeout=self.settings.timeout_seconds)  # fmt: skip
                files[name] = (hashlib.sha256(got.body).hexdigest() if got.status == 200 else None,
                               file_url)  # fmt: skip
        return files

    def _remote_commit(self, url: str, filename: str) -> str:
        """The commit inside a wheel on the index (``build_support.wheelfile``'s reader,
        which fails closed), or why it cannot be known."""
        if not filename.endswith(".whl"):
            return "unknown (not a wheel)"
        auth = self._auth() if self.settings.auth_for_reads else None
        resp = http.request("GET", url, authorization=auth, timeout=self.settings.timeout_seconds)
        if resp.status != 200:
            return f"unknown (the index answered {resp.status})"
        path = self.env.workdir / "pypi-remote" / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(resp.body)
        try:
            return wheelfile.read_commit(path)
        except (VerificationError, zipfile.BadZipFile, OSError) as exc:
            return f"unreadable ({getattr(exc, 'message', exc)})"

    def _interrupted(self, journal: Journal, a: Artifact) -> str:
        """When the journal shows our upload of ``a`` started and never confirmed: when."""
        entry = journal.entries.get(a.key, {})
        if entry.get("upload") != "started" or entry.get("state") in ("done", "skipped"):
            return ""
        return str(entry.get("upload_started") or entry.get("updated") or "?")

    def probe(self, artifacts: Sequence[Artifact]) -> list[PlanItem]:
        by_project: dict[str, dict[str, tuple[str | None, str]] | str] = {}
        items: list[PlanItem] = []
        for a in artifacts:
            project = a.meta["project"]
            if project not in by_project and not self.unconfigured:
                try:
                    by_project[project] = self.index_files(project)
                except (http.HttpError, PublishError) as exc:
                    by_project[project] = f"cannot read the index: {exc}"
            if self.unconfigured:
                items.append(decide(a, Remote(present=False, error=self.unconfigured)))
                continue
            there = by_project[project]
            if isinstance(there, str):
                items.append(decide(a, Remote(present=False, error=there)))
            elif a.name in there:
                items.append(decide(a, Remote(present=True, digest=there[a.name][0])))
            else:
                items.append(decide(a, Remote(present=False)))
        if self.unconfigured:
            return items
        index = {p: f for p, f in by_project.items() if not isinstance(f, str)}
        items = self._partial_uploads(items, index)
        return self._whole_versions(items, index)

    def _partial_uploads(
        self, items: list[PlanItem], index: dict[str, dict[str, tuple[str | None, str]]]
    ) -> list[PlanItem]:
        """A file of ours on the index with other bytes, whose upload the journal shows we
        started and never confirmed, is our own interrupted upload: say so, with the
        remedy; ``--repair-partial`` removes its version and resends every file of ours in
        it (where the index allows deletion), never an overwrite."""
        ctx = self.env.ctx
        journal = Journal.load(self.env.store, ctx.sha, ctx.branch)
        ours = {i.artifact.name for i in items}
        repair: dict[tuple[str, str], str] = {}  # (project, version) -> why
        out: list[PlanItem] = []
        for i in items:
            a = i.artifact
            since = self._interrupted(journal, a) if i.action is Action.CONFLICT else ""
            if not since:
                out.append(i)
                continue
            project, version = a.meta["project"], a.version
            files = index.get(project, {})
            size = ""
            there_url = files.get(a.name, (None, ""))[1]
            got = http.request("GET", there_url, timeout=self.settings.timeout_seconds,
                               authorization=self._auth() if self.settings.auth_for_reads
                               else None) if there_url else None  # fmt: skip
            if got is not None and got.status == 200:
                prefix = a.path is not None and a.path.read_bytes().startswith(got.body)
                size = (f" ({len(got.body)} of our {a.size} bytes"
                        + (", the start of ours)" if prefix else ")"))  # fmt: skip
            others = sorted(n for n in files
                            if _version_of(n) == _version_of(a.name) and n not in ours)  # fmt: skip
            what = (
                f"{a.name} on the index has SHA-256 {i.remote.digest}{size}, ours is "
                f"{a.digest}: it is OUR OWN INTERRUPTED UPLOAD (the journal "
                f"{journal_key(ctx.sha)} shows it started {since} and never confirmed). "
                "Remedy: on a private index, rerun with --repair-partial (it removes "
                f"{project} {version} from the index and resends every file of ours in it) "
                "or delete the file by hand and rerun; on PyPI a file name can never be "
                "uploaded again: publish a .postN version"
            )
            if self.env.repair_partial and not others:
                repair[(project, version)] = what
                out.append(PlanItem(artifact=a, action=Action.SEND, remote=i.remote,
                                    reason=f"repair: remove and resend our interrupted "
                                    f"upload ({i.remote.digest} there)"))  # fmt: skip
                continue
            if self.env.repair_partial:
                what += (f"; --repair-partial refused: {project} {version} also holds "
                         + ", ".join(others) + ", which are not ours to remove")  # fmt: skip
            out.append(PlanItem(artifact=a, action=Action.CONFLICT, remote=i.remote, reason=what))
        self._repair = set(repair)
        # Removing a version removes every file in it: the identical ones are sent again.
        return [
            PlanItem(artifact=i.artifact, action=Action.SEND, remote=i.remote,
                     reason=f"resend: --repair-partial removes {i.artifact.version} first")
            if i.action is Action.SKIP
            and (i.artifact.meta["project"], i.artifact.version) in self._repair
            else i
            for i in out
        ]  # fmt: skip

    def _whole_versions(
        self, items: list[PlanItem], index: dict[str, dict[str, tuple[str | None, str]]]
    ) -> list[PlanItem]:
        """A version is all or nothing: files are added to a version the index already
        has only when every file of it there carries the commit being published."""
        sha = self.env.ctx.sha
        ours = {i.artifact.name for i in items}
        foreign: dict[tuple[str, str], list[str]] = {}
        for i in items:
            key = (i.artifact.meta["project"], i.artifact.version)
            if i.action is not Action.SEND or key in foreign or key in self._repair:
                continue
            found = []
            for name, (_sha256, url) in sorted(index.get(key[0], {}).items()):
                if name in ours or _version_of(name) != _version_of(i.artifact.name):
                    continue
                commit = self._remote_commit(url, name)
                if commit != sha:
                    found.append(f"{name} (commit {commit})")
            foreign[key] = found
        return [
            PlanItem(
                artifact=i.artifact,
                action=Action.CONFLICT,
                remote=i.remote,
                reason=f"{i.artifact.meta['project']} {i.artifact.version} is already on the "
                f"index with files of another commit: {', '.join(bad)}; adding {i.artifact.name}"
                f" of {sha} would mix two commits in one version (bump the version)",
            )
            if i.action is Action.SEND
            and (bad := foreign.get((i.artifact.meta["project"], i.artifact.version)))
            else i
            for i in items
        ]

    # -- send --------------------------------------------------------------------------------
    def _twine_env(self) -> dict[str, str]:
        env = {
            "TWINE_NON_INTERACTIVE": "1",
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
            "TWINE_USERNAME": self._username,
        }
        if self._password is not None:
            env["TWINE_PASSWORD"] = self._password.value
        return env

    def preflight(self, items: Sequence[PlanItem]) -> None:
        files = [i.artifact.path for i in items if i.artifact.path is not None]
        if files:
            cmd.run([cmd.python_exe(), "-m", "twine", "check", "--strict", *files])

    def _remove_version(self, project: str, version: str, journal: Journal, a: Artifact) -> None:
        """``--repair-partial``: the index's remove action (pypiserver's ``remove_pkg``,
        which removes every file of the version); an index without one refuses."""
        journal.record(a.key, "pending", target=a.target, name=a.name,
                       repair=f"removing {project} {version} from the index")  # fmt: skip
        body = urllib.parse.urlencode(
            {":action": "remove_pkg", "name": project, "version": version}
        ).encode()
        resp = http.request("POST", self.settings.repository_url, data=body,
                            headers={"Content-Type": "application/x-www-form-urlencoded"},
                            authorization=self._auth(),
                            timeout=self.settings.timeout_seconds)  # fmt: skip
        left = self.index_files(project).get(a.name)
        if resp.status != 200 or left is not None:
            raise PublishError(
                f"the index did not remove {project} {version} (it answered {resp.status}"
                + (f"; {a.name} is still there" if left is not None else "")
                + ")",
                hint="this index does not allow deletion: delete the file by hand, or (PyPI) "
                "publish a .postN version",
            )
        log.warn(f"--repair-partial: removed {project} {version} from the index; resending "
                 "every file of ours in it")  # fmt: skip
        self._removed.add((project, version))

    def send(self, item: PlanItem, journal: Journal) -> None:
        a = item.artifact
        assert a.path is not None  # noqa: S101 - collect() sets it
        version = (a.meta["project"], a.version)
        if version in self._repair and version not in self._removed:
            self._remove_version(*version, journal, a)
        # Journaled before a byte leaves: a kill mid-upload is recognised as ours later.
        journal.record(a.key, "pending", target=a.target, name=a.name, upload="started",
                       upload_started=_now(), sha256=a.digest, size=str(a.size))  # fmt: skip
        argv = [cmd.python_exe(), "-m", "twine", "upload", "--disable-progress-bar",
                "--repository-url", self.settings.repository_url, str(a.path)]  # fmt: skip
        error = ""
        try:
            proc = cmd.run(argv, env=self._twine_env(), capture=True,
                           timeout=self.settings.timeout_seconds * 10)  # fmt: skip
            log.info(credentials.scrub((proc.stdout + proc.stderr).strip()))
        except CommandFailedError as exc:
            error = credentials.scrub(exc.message)
            log.warn(f"twine upload of {a.name} failed; asking the index whether it arrived")
        there = self.index_files(a.meta["project"]).get(a.name)
        if there is not None and there[0] == a.digest:
            if error:
                log.info(f"{a.name}: the index holds it with the same SHA-256 despite the error")
            return
        if there is not None:
            raise PublishError(
                f"{a.name} on the index has SHA-256 {there[0]}, ours is {a.digest}",
                hint="a file name can never be reused on PyPI; bump the version",
            )
        raise PublishError(
            f"{a.name} is not on the index after the upload" + (f": {error}" if error else ""),
            hint="check the index and credentials, then rerun with --execute",
        )

    def close(self) -> None:
        return None


__all__ = ["Action", "PypiTarget", "parse_simple"]
