"""A no-change images run, counted at the engine's socket; and a changed base rebuilds.

Every request the stage sends to dockerd goes through :class:`EngineRequestLog`, a real
UNIX-socket proxy in front of /var/run/docker.sock (``DOCKER_HOST`` names its socket). The first
run goes to the engine directly (it may build); the second, with nothing changed, is
counted request by request (docs/images.md says which requests and why).
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_support import cmd, manifests, store
from build_support.config import Config
from build_support.containers import engine, rootfs
from build_support.containers.context import DIGEST_LABEL
from build_support.images import stage as images_stage
from tests.helpers import EngineRequestLog, bundled_toml, docker
from tests.integration.test_images import (  # noqa: F401 - fixtures
    DAY,
    LOCKFILE,
    PACKAGES,
    ROOT,
    SHA,
    _manifest,
    _project,
    _store_wheels,
    base_image,
    env,
    wheels,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

#: A base reference no one builds or pushes: the stage falls back to the stand-in.
ABSENT_BASE = "build-support-test/absent-base:never-built"


@pytest.fixture
def engine_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[EngineRequestLog]:
    engine.ensure_docker()
    sock_dir = Path(tempfile.mkdtemp(prefix="engine-log.", dir="/tmp"))  # short socket path
    proxy = EngineRequestLog(sock_dir / "docker.sock")
    yield proxy
    proxy.close()
    sock_dir.rmdir()


def _calls(lines: list[str]) -> list[tuple[str, str, dict[str, list[str]]]]:
    """(method, path without the API version, decoded ``filters``) per request."""
    out = []
    for line in lines:
        method, _, target = line.partition(" ")
        url = urllib.parse.urlsplit(target)
        path = re.sub(r"^/v[0-9]+\.[0-9]+/", "/", url.path)
        query = urllib.parse.parse_qs(url.query)
        filters = json.loads(query["filters"][0]) if "filters" in query else {}
        out.append((method, urllib.parse.unquote(path), filters))
    return out


def _digests(cfg_manifest: list[dict[str, object]]) -> list[str]:
    return [str(e["input_digest"]) for e in cfg_manifest]


def _counted_run(
    monkeypatch: pytest.MonkeyPatch, proxy: EngineRequestLog, argv: list[str], cfg: Config
) -> tuple[float, list[tuple[str, str, dict[str, list[str]]]]]:
    proxy.take()
    with monkeypatch.context() as m:
        m.setenv("DOCKER_HOST", proxy.host)
        started = time.monotonic()
        assert images_stage.main(argv, cfg, today=DAY) == 0
        seconds = time.monotonic() - started
    return seconds, _calls(proxy.take())


@pytest.mark.parametrize("flavor", ["cpu", "gpu"])
@pytest.mark.usefixtures("env", "base_image")
def test_no_change_run_on_the_standin_makes_five_requests(
    tmp_path: Path,
    wheels: list[Path],  # noqa: F811
    engine_log: EngineRequestLog,
    monkeypatch: pytest.MonkeyPatch,
    flavor: str,
) -> None:
    cfg = _project(
        tmp_path,
        namespace="build-support-test-nochange",
        cpu_base=ABSENT_BASE,
        gpu_base=ABSENT_BASE,
        cuda_version="12.8.1-cudnn",
    )
    _store_wheels(cfg, wheels)
    argv = ["--python", "3.11", "--flavor", flavor]
    assert images_stage.main(argv, cfg, today=DAY) == 0
    first = _manifest(cfg)
    assert all(e["base_standin"] for e in first), first

    seconds, calls = _counted_run(monkeypatch, engine_log, argv, cfg)

    second = _manifest(cfg)
    assert [e["built"] for e in second] == [False, False]
    assert [e["image_id"] for e in second] == [e["image_id"] for e in first]
    key, _tag = rootfs.identity("x86_64", PACKAGES)
    deps_digest, minray_digest = _digests(second)
    assert calls == [
        ("GET", "/version", {}),  # connect: API version negotiation is the ping
        ("GET", f"/images/{ABSENT_BASE}/json", {}),  # the configured base: still absent
        ("GET", "/images/json", {"label": [f"{rootfs.KEY_LABEL}={key}"]}),  # the stand-in
        ("GET", "/images/json", {"label": [f"{DIGEST_LABEL}={deps_digest}"]}),
        ("GET", "/images/json", {"label": [f"{DIGEST_LABEL}={minray_digest}"]}),
    ]
    assert seconds < 5, seconds


def _build_base(ref: str, marker: str) -> list[str]:
    """``FROM`` the stand-in plus one layer holding ``marker``, tagged ``ref``; its layers."""
    standin = rootfs.ensure_image("x86_64", PACKAGES)
    dockerfile = f"FROM {standin}\nRUN echo {marker} > /etc/test-base-marker\n"
    cmd.run(
        [engine.docker_client(), "build", "-q", "-t", ref, "-"],
        input_text=dockerfile,
        env={"DOCKER_BUILDKIT": "1"},
        capture=True,
        timeout=600,
    )
    return _layers(ref)


def _layers(ref: str) -> list[str]:
    return list(json.loads(docker("image", "inspect", "-f", "{{json .RootFS.Layers}}", ref)))


@pytest.mark.usefixtures("env", "base_image")
def test_a_changed_base_rebuilds_base_deps(
    tmp_path: Path,
    wheels: list[Path],  # noqa: F811
    engine_log: EngineRequestLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ref = "build-support-test/changing-base:test"
    argv = ["--python", "3.11", "--base", ref]
    cfg = _project(tmp_path, namespace="build-support-test-basechange")
    _store_wheels(cfg, wheels)
    old_layers = _build_base(ref, "first")  # the same every session: built once
    old_base = docker("image", "inspect", "-f", "{{.Id}}", ref)
    assert images_stage.main(argv, cfg, today=DAY) == 0
    first = _manifest(cfg)

    # Nothing changed: the base is a real (non-stand-in) image, looked up once.
    _seconds, calls = _counted_run(monkeypatch, engine_log, argv, cfg)
    assert [e["built"] for e in _manifest(cfg)] == [False, False]
    deps_digest, minray_digest = _digests(_manifest(cfg))
    assert calls == [
        ("GET", "/version", {}),
        ("GET", f"/images/{ref}/json", {}),
        ("GET", "/images/json", {"label": [f"{DIGEST_LABEL}={deps_digest}"]}),
        ("GET", "/images/json", {"label": [f"{DIGEST_LABEL}={minray_digest}"]}),
    ]

    # The same reference now names another image (as after a docker pull or a rebuild of
    # the base): base-deps is built again, on it, and so is minray.
    new_layers = _build_base(ref, f"second-{time.time_ns()}")
    new_base = docker("image", "inspect", "-f", "{{.Id}}", ref)
    assert new_layers != old_layers
    third: list[dict[str, object]] = []
    try:
        _seconds, calls = _counted_run(monkeypatch, engine_log, argv, cfg)
        third = _manifest(cfg)
        assert [e["built"] for e in third] == [True, True]
        assert third[0]["image_id"] != first[0]["image_id"]
        assert _layers(str(third[0]["image_id"]))[: len(new_layers)] == new_layers
        assert ("POST", "/build", {}) in [(m, p, {}) for m, p, _f in calls]
    finally:
        # Leave the reference on the first base (reused next session); drop what this
        # session's base made.
        docker("tag", old_base, ref)
        new_ids = [str(e["image_id"]) for e in third if e["image_id"] not in
                   {f["image_id"] for f in first}]  # fmt: skip
        for image_id in [*new_ids[::-1], new_base]:
            cmd.run(
                [engine.docker_client(), "image", "rm", "-f", image_id],
                capture=True,
                check=False,
            )


@pytest.mark.usefixtures("env", "base_image")
def test_no_change_command_exits_0_with_the_same_requests(
    tmp_path: Path,
    wheels: list[Path],  # noqa: F811
    engine_log: EngineRequestLog,
) -> None:
    """The outermost command, ``python -m build_support images``, in a project of its own:
    the CLI and provisioning around the stage add no engine request."""
    project = tmp_path / "project"
    lock = project / "requirements" / "compiled" / "requirements_compiled_py3.11.txt"
    lock.parent.mkdir(parents=True)
    lock.write_text(LOCKFILE)
    (project / "pyproject.toml").write_text(
        f"""\
[tool.build_support]
default_branch = "main"
artifact_store = ".artifacts"

[tool.build_support.paths]
docker = "{ROOT / "docker"}"
requirements = "requirements"
dist = "dist"

[tool.build_support.images]
{bundled_toml("images")}namespace = "build-support-test-nochange"
cpu_base = "{ABSENT_BASE}"
python_versions = ["3.11"]
default_python = "3.11"
"""
    )
    s = store.open_url(str(project / ".artifacts"))
    for whl in wheels:
        s.put(store.keys.wheel_key("main", SHA, whl.name), whl)
    argv = [sys.executable, "-m", "build_support", "images", "--python", "3.11"]
    pythonpath = {"PYTHONPATH": str(ROOT)}

    first = cmd.run(argv, cwd=project, env=pythonpath, capture=True, check=False, timeout=1700)
    assert first.returncode == 0, first.stderr[-4000:]
    engine_log.take()
    started = time.monotonic()
    second = cmd.run(
        argv, cwd=project, env={**pythonpath, "DOCKER_HOST": engine_log.host},
        capture=True, check=False, timeout=600,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert second.returncode == 0, second.stderr[-4000:]
    assert "skipped (inputs unchanged)" in second.stderr
    rows = manifests.read(manifests.images_path(project / "dist"), manifests.ImagesManifest)
    assert [r.built for r in rows.images] == [False, False]
    key, _tag = rootfs.identity("x86_64", PACKAGES)
    assert _calls(engine_log.take()) == [
        ("GET", "/version", {}),
        ("GET", f"/images/{ABSENT_BASE}/json", {}),
        ("GET", "/images/json", {"label": [f"{rootfs.KEY_LABEL}={key}"]}),
        *[("GET", "/images/json", {"label": [f"{DIGEST_LABEL}={r.input_digest}"]})
          for r in rows.images],
    ]  # fmt: skip
    print(f"no-change python -m build_support images: {seconds:.2f} s")
    assert seconds < 10, seconds
