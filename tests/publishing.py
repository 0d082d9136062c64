"""Helpers for the publish tests and benchmarks: a project in a real git repository with
the commit's artifacts in its store, and real servers on loopback (no fixtures here)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, NamedTuple

from build_support import manifests
from build_support.releasetests import runs
from build_support.store import LocalStore, keys
from tests.conftest import git as git  # noqa: PLC0414 - re-exported
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

#: Planted secrets: tests grep every output for them.
PYPI_PASSWORD = "pypi-s3cret-Planted-7f3a9c"
#: The release_tests file of a project made by :func:`make_project` (the default path).
RELEASE_TESTS = "release/release_tests.yaml"


def tiny_wheel(
    dest: Path, dist: str, version: str, commit: str, *, payload: bytes = b"",
    tag: str = "py3-none-any",
) -> Path:  # fmt: skip
    """A small, valid wheel of ``dist`` whose ``_version.py`` carries ``commit``."""
    pkg = dist.replace("-", "_")
    name = f"{pkg}-{version}-{tag}.whl"
    files = {
        f"{pkg}/__init__.py": b"from ._version import commit\n",
        f"{pkg}/_version.py": f'version = "{version}"\ncommit = "{commit}"\n'.encode(),
        f"{pkg}/data.bin": payload,
        f"{pkg}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
            "Summary: a test distribution\nDescription-Content-Type: text/markdown\n\n"
            f"# {dist}\n\nA test distribution.\n"
        ).encode(),
        f"{pkg}-{version}.dist-info/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n".encode()
        ),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{pkg}-{version}.dist-info/RECORD,,")
    files[f"{pkg}-{version}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / name
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path, (2025, 1, 1, 0, 0, 0)), data)
    return out


@dataclass
class Project:
    root: Path
    sha: str
    store: LocalStore
    env: dict[str, str] = field(default_factory=dict)

    def put_wheel(self, wheel: Path, branch: str = "main", *, attest: bool = True) -> None:
        """The wheel in the store, with its SBOM and signed statement (as the wheel stage
        leaves them) unless ``attest`` is false."""
        key = keys.wheel_key(branch, self.sha, wheel.name)
        self.store.put(key, wheel)
        if attest:
            self.attest(key, wheel)

    def attest(
        self, key: str, path: Path, *, sha256: str = "", name: str = "", commit: str = ""
    ) -> None:
        """The SBOM and statement of the stored ``key`` (file ``path``), written and signed
        by the stages' own writer with the project's key, naming the project's commit (or
        ``commit``)."""
        import dataclasses

        from build_support import commits, config
        from build_support.supplychain import attest, sbom

        cfg = config.load(self.root)
        ctx = commits.context(self.root, env=self.env)
        if commit:
            ctx = dataclasses.replace(ctx, sha=commit)
        subject = sbom.Part(name=name or path.name, sha256=sha256, role="test-artifact")
        attest.attest_file(self.store, key, path, cfg=cfg, ctx=ctx, subject=subject,
                           default_stage="test", name=name)  # fmt: skip

    def attest_image(self, row: manifests.ImageRow) -> None:
        """An image's SBOM and statement, where the images stage puts them."""
        from build_support import commits, config
        from build_support.supplychain import attest

        cfg = config.load(self.root)
        ctx = commits.context(self.root, env=self.env)
        attest.attest_image(self.store, row.name, row.image_id, cfg=cfg, ctx=ctx,
                            python=row.python, flavor=row.flavor, arch=row.arch, refs=row.refs,
                            base=row.base, pip_freeze="", dpkg_status="")  # fmt: skip

    def pass_release_tests(self, exit_code: int = 0) -> None:
        """A release-tests summary for the commit, written by the stage's own writer."""
        run = self.root / "results" / "release-tests" / f"run-{self.sha[:6]}-{exit_code}"
        summary = manifests.ReleaseTestSummary(
            run_id=run.name, branch="main", commit=self.sha, exit_code=exit_code, total=1,
            passed=int(exit_code == 0), failed=int(exit_code != 0),
            started_at=f"2026-01-01T00:00:0{int(exit_code != 0)}+00:00",
            file_digest=runs.file_digest(self.root / RELEASE_TESTS), selection="smoke",
        )  # fmt: skip
        manifests.write(manifests.release_summary_path(run), summary)

    def publish(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "build_support", "publish", *args],
            cwd=self.root,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def spawn(
        self, *args: str, stdout: IO[str], new_session: bool = False
    ) -> subprocess.Popen[str]:
        """The stage in the background; ``new_session``: in its own process group, so a
        test can SIGKILL it with every child it started (as a CI job kill does)."""
        return subprocess.Popen(
            [sys.executable, "-m", "build_support", "publish", *args],
            cwd=self.root,
            env=self.env,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=new_session,
        )

    def journal(self) -> dict[str, Any]:
        path = self.store.root / "publish" / self.sha / "journal.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def plan(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.root / "dist/publish/plan.json").read_text())
        return data


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment without CI variables (a CI run must not leak its branch or PR)."""
    drop = ("BUILDKITE", "GITHUB_", "BUILD_SUPPORT_", "CI", "TWINE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


#: Every test project signs provenance with its own Ed25519 key (``write_key``).
PROVENANCE_TOML = '[tool.build_support.provenance]\nkey_file = "keys/provenance.pem"\n'


def write_key(path: Path) -> Path:
    """A fresh Ed25519 private key (PEM, PKCS#8) at ``path``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def make_project(base: Path, publish_toml: str, env: Mapping[str, str]) -> Project:
    """A git repository on ``main`` whose pyproject configures ``publish_toml``."""
    root = base / "proj"
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        "[tool.build_support]\n"
        'python_versions = ["3.12"]\n'
        'default_branch = "main"\n'
        'artifact_store = ".artifacts"\n\n' + publish_toml + "\n" + PROVENANCE_TOML
    )
    write_key(root / "keys" / "provenance.pem")
    (root / ".gitignore").write_text(".artifacts/\ndist/\nresults/\nkeys/\n")
    (root / RELEASE_TESTS).parent.mkdir()
    (root / RELEASE_TESTS).write_text("[]\n")  # what the release-tests gate's runs ran
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "init")
    # The branch gate asks git whether HEAD is on origin/main: a real bare "origin".
    git(base, "init", "-q", "--bare", "-b", "main", str(base / "origin.git"))
    git(root, "remote", "add", "origin", str(base / "origin.git"))
    git(root, "push", "-q", "-u", "origin", "main")
    sha = git(root, "rev-parse", "HEAD")
    return Project(root=root, sha=sha, store=LocalStore(root / ".artifacts"), env=clean_env(env))


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
        else:
            return
    raise RuntimeError(f"{url} did not answer within {timeout}s")


class PypiServer:
    """pypiserver with an htpasswd file (passlib) on loopback; every action authenticated."""

    def __init__(self, base: Path, username: str = "uploader", password: str = PYPI_PASSWORD):
        with warnings.catch_warnings():  # passlib imports the deprecated crypt module
            warnings.simplefilter("ignore", DeprecationWarning)
            from passlib.apache import HtpasswdFile  # type: ignore[import-untyped]

        self.packages = base / "packages"
        self.packages.mkdir(parents=True)
        self.htpasswd = base / "htpasswd"
        ht = HtpasswdFile(str(self.htpasswd), new=True)
        ht.set_password(username, password)
        ht.save()
        self.username = username
        self.password = password
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = base / "pypiserver.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [str(BIN / "pypi-server"), "run", "-p", str(self.port), "-i", "127.0.0.1",
                "-a", "update,list,download", "-P", str(self.htpasswd), "--disable-fallback",
                "--backend", "simple-dir", "-v", "--log-file", str(self.log),
                str(self.packages)]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(f"{self.url}/health", proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)

    def toml(self) -> str:
        return (
            "[tool.build_support.publish]\n"
            'targets = ["pypi"]\n'
            "[tool.build_support.publish.pypi]\n"
            f'repository_url = "{self.url}/"\n'
            f'index_url = "{self.url}/simple/"\n'
            'repository_name = "local-pypiserver"\n'
            f'username = "{self.username}"\n'
        )

    def uploads(self) -> list[str]:
        """The upload requests pypiserver logged."""
        text = self.log.read_text() if self.log.is_file() else ""
        return [line for line in text.splitlines() if '"POST / HTTP' in line]


def pip_download(index: str, user: str, password: str, requirement: str, dest: Path) -> list[Path]:
    host = index.split("://", 1)[1]
    url = f"http://{user}:{password}@{host}"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-q",
         "--index-url", url, "-d", str(dest), requirement],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return sorted(dest.iterdir())


def assert_no_secret(texts: Sequence[str], secrets: Sequence[str]) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, "a planted secret leaked into an output"


REGISTRY_PASSWORD = "registry-s3cret-Planted-41d2"
DOCKER = "/usr/bin/docker"


class DockerRegistry:
    """Debian's docker-registry with htpasswd (bcrypt, from apache2-utils) on loopback."""

    def __init__(self, base: Path, username: str = "pusher", password: str = REGISTRY_PASSWORD):
        base.mkdir(parents=True)
        self.base = base
        self.username = username
        self.password = password
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        line = subprocess.run(["htpasswd", "-Bbn", username, password], check=True,
                              capture_output=True, text=True).stdout  # fmt: skip
        (base / "htpasswd").write_text(line)
        (base / "config.yml").write_text(
            "version: 0.1\n"
            f"storage:\n  filesystem:\n    rootdirectory: {base / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n  secret: test-only\n"
            f"auth:\n  htpasswd:\n    realm: test\n    path: {base / 'htpasswd'}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.docker_config = base / "docker-config"

    def start(self, *, login: bool = True) -> None:
        """Serve; ``login``: ``docker login`` into the test's own ``DOCKER_CONFIG``."""
        with (self.base / "registry.log").open("wb") as log:
            self.proc = subprocess.Popen(
                ["/usr/bin/docker-registry", "serve", str(self.base / "config.yml")],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_http(f"http://{self.host}/v2/", proc=self.proc)
        if login:
            self.docker("login", "-u", self.username, "--password-stdin", self.host,
                        input_text=self.password)  # fmt: skip

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)

    def authorization(self, repo: str) -> str:
        """The ``Authorization`` header the test's own reads of ``repo`` send."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"

    def docker(self, *args: str, input_text: str | None = None) -> str:
        env = {**os.environ, "DOCKER_CONFIG": str(self.docker_config)}
        return subprocess.run([DOCKER, *args], env=env, input=input_text, check=True,
                              capture_output=True, text=True).stdout.strip()  # fmt: skip

    def manifest(self, repo: str, ref: str) -> tuple[str, dict[str, Any]]:
        """(Docker-Content-Digest, manifest) of ``repo:ref`` through the HTTP API."""
        accept = ("application/vnd.docker.distribution.manifest.v2+json, "
                  "application/vnd.docker.distribution.manifest.list.v2+json, "
                  "application/vnd.oci.image.index.v1+json, "
                  "application/vnd.oci.image.manifest.v1+json")  # fmt: skip
        req = urllib.request.Request(f"http://{self.host}/v2/{repo}/manifests/{ref}",
                                     headers={"Authorization": self.authorization(repo),
                                              "Accept": accept})  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.headers["Docker-Content-Digest"], json.loads(resp.read())

    def requests(self, method: str, what: str = "manifests") -> list[str]:
        """``/v2/...`` paths of the ``method`` requests on ``what`` (manifests, blobs) that
        the registry logged, in order."""
        log = self.base / "registry.log"
        text = log.read_text(errors="replace") if log.is_file() else ""
        found = re.findall(rf'"{method} (/v2/[^ ?"]+/{what}/[^ ?"]*)[^"]* HTTP/[0-9.]+" (\d+)',
                           text)  # fmt: skip
        return [path for path, status in found if status.startswith("2")]

    def tags(self, repo: str) -> list[str]:
        req = urllib.request.Request(
            f"http://{self.host}/v2/{repo}/tags/list",
            headers={"Authorization": self.authorization(repo)},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return sorted(json.loads(resp.read())["tags"] or [])

    def toml(self, namespace: str, images: Sequence[str]) -> str:
        listed = ", ".join(f'"{i}"' for i in images)
        return (
            "[tool.build_support.publish]\n"
            'targets = ["docker"]\n'
            "[tool.build_support.publish.docker]\n"
            f'registry = "{self.host}"\n'
            f'namespace = "{namespace}"\n'
            f"images = [{listed}]\n"
            "insecure = true\n"
            'username_env = "TEST_REGISTRY_USER"\n'
            'password_env = "TEST_REGISTRY_PASSWORD"\n'
        )


def docker_build(context: Path, dockerfile: str, *, platform: str = "linux/amd64") -> str:
    """Build a small image with BuildKit; its ID."""
    context.mkdir(parents=True, exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile)
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    argv = [DOCKER, "build", "-q", "--platform", platform, str(context)]
    proc = subprocess.run(argv, env=env, check=True, capture_output=True, text=True)
    return proc.stdout.strip()


MAVEN_PASSWORD = "maven-s3cret-Planted-93be"
GPG_PASSPHRASE = "gpg-passphrase-Planted-5c01"
MODULES = Path("/usr/lib/apache2/modules")


def make_gpg_key(home: Path) -> tuple[str, str]:
    """A throwaway signing key in ``home``: (armored secret key, fingerprint)."""
    home.mkdir(mode=0o700, parents=True)
    base = ["gpg", "--batch", "--homedir", str(home), "--pinentry-mode", "loopback",
            "--passphrase", GPG_PASSPHRASE]  # fmt: skip
    subprocess.run([*base, "--quick-gen-key", "publish test <t@example.invalid>", "ed25519",
                    "sign", "never"], check=True, capture_output=True)  # fmt: skip
    listing = subprocess.run(["gpg", "--batch", "--homedir", str(home), "--with-colons",
                              "--list-secret-keys"], check=True, capture_output=True,
                             text=True).stdout  # fmt: skip
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    armored = subprocess.run([*base, "--armor", "--export-secret-keys", fpr], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
    # The agent gpg started for this keyring must not outlive the test.
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)
    return armored, fpr


class GpgKey(NamedTuple):
    """The ``gpg_key`` fixture (tests/integration/conftest.py): a throwaway signing key."""

    armored: str
    fingerprint: str
    home: Path


def tiny_jar(path: Path, commit: str, entries: Mapping[str, bytes] | None = None) -> Path:
    """A JAR whose manifest carries ``Build-Commit`` (as java/pom.xml makes them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = f"Manifest-Version: 1.0\r\nBuild-Commit: {commit}\r\n\r\n".encode()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("META-INF/", (2025, 1, 1, 0, 0, 0)), b"")
        zf.writestr(zipfile.ZipInfo("META-INF/MANIFEST.MF", (2025, 1, 1, 0, 0, 0)), manifest)
        for name, data in (entries or {"io/minray/A.class": path.name.encode()}).items():
            zf.writestr(zipfile.ZipInfo(name, (2025, 1, 1, 0, 0, 0)), data)
    return path


def store_java(project: Project, version: str = "0.1.0", *, javadoc: bool = True) -> list[str]:
    """The parent and api POMs (from java/, at ``version``) and api JARs in the store."""
    src = project.root / "java-src"
    src.mkdir(exist_ok=True)
    parent = (ROOT / "java" / "pom.xml").read_text().replace(
        "<version>0.1.0</version>", f"<version>{version}</version>", 1)  # fmt: skip
    api = (ROOT / "java" / "api" / "pom.xml").read_text().replace(
        "<version>0.1.0</version>", f"<version>{version}</version>", 1)  # fmt: skip
    files = {f"minray-parent-{version}.pom": parent.encode(),
             f"minray-api-{version}.pom": api.encode()}  # fmt: skip
    names = list(files)
    for name, data in files.items():
        (src / name).write_bytes(data)
    classifiers = ["", "-sources"] + (["-javadoc"] if javadoc else [])
    for classifier in classifiers:
        name = f"minray-api-{version}{classifier}.jar"
        tiny_jar(src / name, project.sha, {"io/minray/api/X.class": f"{name}".encode()})
        names.append(name)
    for name in names:
        key = keys.jar_key("main", project.sha, "linux", name)
        project.store.put(key, src / name)
        project.attest(key, src / name)
    return names


class ApacheDav:
    """Apache httpd with mod_dav (Debian's apache2) on loopback: a Maven repository over
    HTTP PUT with basic auth (htpasswd from apache2-utils)."""

    def __init__(self, username: str = "deployer", password: str = MAVEN_PASSWORD):
        import tempfile

        # Not under pytest's 0700 tmp: the worker (www-data when root) must reach it.
        self.base = Path(tempfile.mkdtemp(prefix="publish-dav-"))
        self.base.chmod(0o755)
        self.username = username
        self.password = password
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/repo"
        www = self.base / "www" / "repo"
        www.mkdir(parents=True)
        (self.base / "lock").mkdir()
        line = subprocess.run(["htpasswd", "-Bbn", username, password], check=True,
                              capture_output=True, text=True).stdout  # fmt: skip
        (self.base / "htpasswd").write_text(line)
        user = ""
        if os.geteuid() == 0:
            user = "User www-data\nGroup www-data\n"
            for p in (www, self.base / "lock"):
                os.chown(p, 33, 33)
        mods = ["mpm_event", "authz_core", "authz_user", "authn_core", "authn_file",
                "auth_basic", "dav", "dav_fs"]  # fmt: skip
        loads = "".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so\n" for m in mods)
        (self.base / "httpd.conf").write_text(
            f"ServerRoot {self.base}\nServerName 127.0.0.1\nListen 127.0.0.1:{self.port}\n"
            f"PidFile {self.base}/httpd.pid\nErrorLog {self.base}/error.log\n"
            f"Mutex file:{self.base}/lock default\n{user}{loads}"
            f'LogFormat "%r %>s" short\nCustomLog {self.base}/access.log short\n'
            f"DocumentRoot {self.base}/www\nDavLockDB {self.base}/lock/DavLock\n"
            f"<Directory {www}>\n  Dav On\n  AuthType Basic\n  AuthName repo\n"
            f"  AuthUserFile {self.base}/htpasswd\n  Require valid-user\n</Directory>\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["/usr/sbin/apache2", "-f", str(self.base / "httpd.conf"), "-DFOREGROUND"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_http(f"http://127.0.0.1:{self.port}/repo/", proc=self.proc)

    def stop(self) -> None:
        import shutil

        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.base, ignore_errors=True)

    def path(self, rel: str) -> Path:
        return self.base / "www" / "repo" / rel

    def puts(self) -> list[str]:
        log = self.base / "access.log"
        return (
            [x for x in log.read_text().splitlines() if x.startswith("PUT")] if log.exists() else []
        )

    def toml(self) -> str:
        return (
            "[tool.build_support.publish]\n"
            'targets = ["maven"]\n'
            "[tool.build_support.publish.maven]\n"
            'transport = "maven-repository"\n'
            f'release_url = "{self.url}/releases"\n'
            f'snapshot_url = "{self.url}/snapshots"\n'
            'username_env = "TEST_MAVEN_USER"\n'
            'password_env = "TEST_MAVEN_PASSWORD"\n'
            'gpg_key_env = "TEST_GPG_KEY"\n'
            'gpg_passphrase_file = "gpg-passphrase.txt"\n'
            'gpg_passphrase_env = ""\n'
        )


PORTAL_TOKEN_PASSWORD = "portal-token-Planted-77aa"


class LoopbackHTTP:
    """A threaded HTTP server on 127.0.0.1 (an ephemeral port) for a stand-in service."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class PortalStandIn(LoopbackHTTP):
    """A LOCAL STAND-IN for the Central Portal Publisher API, not the Portal itself (which
    cannot be reached from here). It follows the documented API: ``POST
    /api/v1/publisher/upload`` (multipart part ``bundle``, bearer token), ``POST
    /api/v1/publisher/status?id=`` moving PENDING -> VALIDATING -> VALIDATED (or FAILED,
    with errors) and, for AUTOMATIC or after ``POST /api/v1/publisher/deployment/<id>``,
    PUBLISHING -> PUBLISHED; ``GET /api/v1/publisher/published``. Its own validation is a
    small independent check: every file signed and checksummed."""

    def __init__(self, username: str, password: str, *, lose_polls: Sequence[int] = ()):

        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.deployments: dict[str, dict[str, Any]] = {}
        self.uploads: list[dict[str, bytes]] = []
        self.published: set[tuple[str, str, str]] = set()
        self.polls = 0
        self.lose_polls = set(lose_polls)
        self.force_fail = False
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _reply(self, status: int, body: bytes = b"", ctype: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {token}":
                    self._reply(401, b"bad token")
                    return False
                return True

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                url = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/api/v1/publisher/published":
                    key = (q.get("namespace", ""), q.get("name", ""), q.get("version", ""))
                    body = json.dumps({"published": key in portal.published}).encode()
                    self._reply(200, body, "application/json")
                else:
                    self._reply(404)

            def do_POST(self) -> None:
                if not self._authorized():
                    return
                url = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                length = int(self.headers.get("Content-Length", "0"))
                data = self.rfile.read(length) if length else b""
                if url.path == "/api/v1/publisher/upload":
                    self._reply(*portal.upload(self.headers.get("Content-Type", ""), data, q))
                elif url.path == "/api/v1/publisher/status":
                    self._reply(*portal.status(q.get("id", "")))
                elif url.path.startswith("/api/v1/publisher/deployment/"):
                    d = portal.deployments.get(url.path.rsplit("/", 1)[1])
                    if d is None or d["state"] != "VALIDATED":
                        self._reply(400, b"not validated")
                    else:
                        d["state"] = "PUBLISHING"
                        self._reply(204)
                else:
                    self._reply(404)

        LoopbackHTTP.__init__(self, Handler)

    def upload(self, ctype: str, data: bytes, q: Mapping[str, str]) -> tuple[int, bytes]:
        import email.parser
        import email.policy
        import io

        msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + data
        )
        parts = [p for p in msg.iter_parts()
                 if p.get_param("name", header="content-disposition") == "bundle"]  # fmt: skip
        bundle = parts[0].get_payload(decode=True) if parts else None
        if not isinstance(bundle, bytes):
            return 400, b"no bundle part"
        with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
            files = {n: zf.read(n) for n in zf.namelist()}
        self.uploads.append(files)
        errors: dict[str, list[str]] = {}
        for name in files:
            if name.endswith((".asc", ".md5", ".sha1", ".sha256", ".sha512")):
                continue
            for side in (".asc", ".md5", ".sha1"):
                if name + side not in files:
                    errors.setdefault(name, []).append(f"Missing {side} for file: {name}")
        if self.force_fail:
            errors.setdefault("bundle", []).append("Invalid POM: licenses missing")
        deployment = uuid.uuid4().hex
        self.deployments[deployment] = {"state": "PENDING", "errors": errors, "files": files,
                                        "type": q.get("publishingType", "AUTOMATIC")}  # fmt: skip
        return 201, deployment.encode()

    def status(self, deployment: str) -> tuple[int, bytes, str]:
        self.polls += 1
        d = self.deployments.get(deployment)
        if d is None:
            return 404, b"{}", "application/json"
        nxt = {"PENDING": "VALIDATING", "PUBLISHING": "PUBLISHED"}
        if d["state"] == "VALIDATING":
            d["state"] = "FAILED" if d["errors"] else (
                "VALIDATED" if d["type"] == "USER_MANAGED" else "PUBLISHING")  # fmt: skip
        elif d["state"] in nxt:
            d["state"] = nxt[d["state"]]
        if d["state"] == "PUBLISHED":
            for name in d["files"]:
                parts = name.split("/")
                if len(parts) >= 4 and name.endswith(".pom"):
                    self.published.add((".".join(parts[:-3]), parts[-3], parts[-2]))
        if self.polls in self.lose_polls:
            return 502, b"Bad Gateway", "text/plain"
        body = {"deploymentId": deployment, "deploymentState": d["state"],
                "errors": d["errors"] if d["state"] == "FAILED" else {}}  # fmt: skip
        return 200, json.dumps(body).encode(), "application/json"

    def toml(self) -> str:
        return (
            "[tool.build_support.publish]\n"
            'targets = ["maven"]\n'
            "[tool.build_support.publish.maven]\n"
            'transport = "central-portal"\n'
            f'portal_url = "{self.url}"\n'
            'publishing_type = "USER_MANAGED"\n'
            "poll_interval_seconds = 0.01\n"
            'username_env = "TEST_PORTAL_USER"\n'
            'password_env = "TEST_PORTAL_TOKEN"\n'
            'gpg_key_env = "TEST_GPG_KEY"\n'
            'gpg_passphrase_env = "TEST_GPG_PASSPHRASE"\n'
        )
