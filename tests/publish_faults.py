"""Helpers for the publish fault tests: a real signal at an exact step
(``tests/killhook/sitecustomize.py``), and the check that what a registry holds is what
the plan says, byte for byte, read back over HTTP (every ``.asc`` through ``gpg --verify``,
every image blob against its digest)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tests.publishing import ROOT, ApacheDav, DockerRegistry, Project, PypiServer

KILLHOOK = ROOT / "tests" / "killhook"
#: What a killed ``publish`` exits with: SIGKILL ends it by the signal, SIGTERM through
#: the stage's own handler (128 + 15).
KILLED_RC = {"KILL": -signal.SIGKILL, "TERM": 128 + signal.SIGTERM}


def kill_env(where: str, n: int, sig: str) -> dict[str, str]:
    """The environment that makes ``publish`` send itself ``sig`` after step ``n``."""
    return {
        "PYTHONPATH": f"{KILLHOOK}{os.pathsep}{ROOT}",
        "PUBLISH_TEST_KILL": f"{where}:{n}:{sig}",
    }


def journal_steps(project: Project) -> int:
    """How many times the journal was written (one history line per record, one per
    finished run)."""
    data = project.journal()
    if not data:
        return 0
    lines = sum(len(e["history"]) for e in data["entries"].values())
    return lines + sum("finished" in r for r in data["runs"])


def _get(url: str, user: str, password: str) -> bytes | None:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            data: bytes = resp.read()
            return data
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def stored(project: Project, prefix: str, suffixes: tuple[str, ...]) -> dict[str, bytes]:
    """``{file name: bytes}`` of the commit's files in the store under ``prefix``."""
    out = {}
    for o in project.store.list(prefix):
        name = o.key.rsplit("/", 1)[-1]
        if name.endswith(suffixes):
            with tempfile.TemporaryDirectory() as tmp:
                project.store.get(o.key, Path(tmp) / name)
                out[name] = (Path(tmp) / name).read_bytes()
    return out


def check_maven(project: Project, dav: ApacheDav, gpg_home: Path, version: str) -> int:
    """Every stored JAR and POM is in the repository with exactly its bytes, its four
    checksums, and an ``.asc`` that ``gpg --verify`` accepts; every POM's artifact-level
    ``maven-metadata.xml`` lists the version, with matching checksums. Files checked."""
    files = stored(project, f"jars/main/{project.sha}/", (".jar", ".pom"))
    assert files, "no Maven files in the store"
    checked = 0
    for name, data in sorted(files.items()):
        artifact = "minray-api" if name.startswith("minray-api") else "minray-parent"
        base = f"{dav.url}/releases/io/minray/{artifact}"
        url = f"{base}/{version}/{name}"
        assert _get(url, dav.username, dav.password) == data, f"{name}: not our bytes"
        for algorithm in ("md5", "sha1", "sha256", "sha512"):
            side = _get(f"{url}.{algorithm}", dav.username, dav.password)
            assert side == hashlib.new(algorithm, data).hexdigest().encode(), (name, algorithm)
        asc = _get(f"{url}.asc", dav.username, dav.password)
        assert asc is not None, f"{name}.asc missing"
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / name).write_bytes(data)
            (Path(tmp) / f"{name}.asc").write_bytes(asc)
            subprocess.run(["gpg", "--batch", "--homedir", str(gpg_home), "--verify",
                            f"{tmp}/{name}.asc", f"{tmp}/{name}"],
                           check=True, capture_output=True)  # fmt: skip
        if name.endswith(".pom"):
            meta = _get(f"{base}/maven-metadata.xml", dav.username, dav.password)
            assert meta is not None
            assert f"<version>{version}</version>" in meta.decode()
            for algorithm in ("md5", "sha1", "sha256", "sha512"):
                side = _get(f"{base}/maven-metadata.xml.{algorithm}", dav.username, dav.password)
                assert side == hashlib.new(algorithm, meta).hexdigest().encode(), algorithm
        checked += 1
    return checked


def check_pypi(project: Project, pypi: PypiServer, version: str) -> int:
    """The index holds exactly the stored wheels of ``version``, each with its bytes
    (downloaded back over HTTP). Files checked."""
    files = stored(project, f"main/{project.sha}/", (".whl",))
    there = {p.name for p in pypi.packages.iterdir() if f"-{version}-" in p.name}
    assert there == set(files), (there, set(files))
    for name, data in files.items():
        got = _get(f"{pypi.url}/packages/{name}", pypi.username, pypi.password)
        assert got is not None
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    return len(files)


def check_registry(project: Project, registry: DockerRegistry) -> int:
    """Every planned image tag is in the registry and points at the planned image (config
    digest = image ID, revision label = the commit); every blob its manifest names is
    fetched back through the registry API with exactly the bytes its digest and size say;
    and each tag's manifest was pushed exactly once, no blob twice (the registry's log).
    Tags checked."""
    items = [i for i in project.plan()["items"] if i["target"] == "docker"]
    assert items, "no images in the plan"
    puts = [p for p in registry.requests("PUT") if "/manifests/sha256:" not in p]
    for item in items:
        repo, tag = item["destination"].split("/", 1)[1].rsplit(":", 1)
        _, manifest = registry.manifest(repo, tag)
        assert manifest["config"]["digest"] == item["sha256"], (tag, manifest)
        blobs = {}
        for blob in (manifest["config"], *manifest["layers"]):
            data = _get(f"http://{registry.host}/v2/{repo}/blobs/{blob['digest']}",
                        registry.username, registry.password)  # fmt: skip
            assert data is not None, f"{repo}@{blob['digest']} missing"
            assert f"sha256:{hashlib.sha256(data).hexdigest()}" == blob["digest"]
            assert len(data) == blob["size"]
            blobs[blob["digest"]] = data
        config = json.loads(blobs[manifest["config"]["digest"]])
        assert config["config"]["Labels"]["org.opencontainers.image.revision"] == project.sha
        assert puts.count(f"/v2/{repo}/manifests/{tag}") == 1, (tag, puts)
        uploads = [u for u in registry.requests("PUT", "blobs") if u.startswith(f"/v2/{repo}/")]
        assert len(uploads) <= len(blobs), (repo, uploads)  # (a blob may be mounted instead)
    return len(items)
