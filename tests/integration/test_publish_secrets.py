"""Issue 18, items 5 and 6, through ``python -m build_support publish``: planted
credentials reach no output tree, and a SIGKILL (during signing, after the registry
login) leaves no secret and no half-state outside the run's private folder under the
cache, which the next run sweeps (the gpg-agent included) and says so."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_support import procs
from build_support.store import keys
from tests.publishing import (
    GPG_PASSPHRASE,
    MAVEN_PASSWORD,
    PYPI_PASSWORD,
    REGISTRY_PASSWORD,
    ApacheDav,
    DockerRegistry,
    GpgKey,
    Project,
    PypiServer,
    make_project,
    store_java,
    tiny_jar,
    tiny_wheel,
)

pytestmark = pytest.mark.integration

#: Planted in credential variables this run does not use: they must not show either.
UNUSED = {
    "BUILD_SUPPORT_PYPI_PASSWORD": "unused-pypi-Planted-1a1a",
    "BUILD_SUPPORT_DOCKER_PASSWORD": "unused-docker-Planted-2b2b",
    "GPG_PASSPHRASE": "unused-gpg-Planted-3c3c",
    "MAVEN_GPG_PASSPHRASE": "unused-mvn-gpg-Planted-4d4d",
    "TWINE_PASSWORD": "unused-twine-Planted-5e5e",
    "AWS_SECRET_ACCESS_KEY": "unused-aws-Planted-6f6f",
    "AWS_SESSION_TOKEN": "unused-aws-token-Planted-7a7a",
}
FILE_SECRET = "docker-file-Planted-8b8b"


def _maven_toml(dav: ApacheDav) -> str:
    """The Maven repository with the documented default variables (key, passphrase)."""
    return (
        "[tool.build_support.publish.maven]\n"
        'transport = "maven-repository"\n'
        f'release_url = "{dav.url}/releases"\n'
        f'snapshot_url = "{dav.url}/snapshots"\n'
        'username_env = "TEST_MAVEN_USER"\n'
    )


def _files(tree: Path) -> Iterator[Path]:
    for dirpath, _dirs, names in os.walk(tree):
        for name in names:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                yield path


def _grep(trees: list[Path], texts: list[str], secrets: list[str], skip: set[Path]) -> int:
    checked = 0
    for tree in trees:
        for path in _files(tree):
            if path in skip:
                continue
            data = path.read_bytes()
            checked += 1
            for secret in secrets:
                assert secret.encode() not in data, f"a planted secret is in {path}"
    for text in texts:
        for secret in secrets:
            assert secret not in text, "a planted secret is in the console output"
    return checked


def test_planted_credentials_reach_no_output_tree(
    tmp_path: Path, dav: ApacheDav, gpg_key: GpgKey
) -> None:
    armored = gpg_key.armored
    pypi = PypiServer(tmp_path / "pypi")
    pypi.start()
    try:
        toml = pypi.toml().replace('targets = ["pypi"]', 'targets = ["pypi", "maven"]')
        toml += 'password_env = "MINRAY_UPLOAD"\n'  # a name without a secret word in it
        toml += _maven_toml(dav)
        toml += '[tool.build_support.publish.docker]\npassword_file = "docker-password.txt"\n'
        cache, tmp = tmp_path / "cache", tmp_path / "tmp"
        tmp.mkdir()
        used = {
            "MINRAY_UPLOAD": PYPI_PASSWORD,
            "BUILD_SUPPORT_MAVEN_PASSWORD": MAVEN_PASSWORD,
            "BUILD_SUPPORT_GPG_KEY": armored,
            "BUILD_SUPPORT_GPG_PASSPHRASE": GPG_PASSPHRASE,
        }
        p = make_project(tmp_path, toml, {**used, **UNUSED, "TEST_MAVEN_USER": dav.username,
                                          "BUILD_SUPPORT_CACHE": str(cache),
                                          "TMPDIR": str(tmp)})  # fmt: skip
        (p.root / "docker-password.txt").write_text(FILE_SECRET + "\n")
        p.put_wheel(tiny_wheel(tmp_path / "w", "minray", "0.1.0", p.sha))
        store_java(p)
        p.pass_release_tests()
        plan = p.publish()
        assert plan.returncode == 0, plan.stderr
        run = p.publish("--execute")
        assert run.returncode == 0, run.stderr
        assert len(pypi.uploads()) == 1
        assert dav.puts()
        secrets = [*used.values(), *UNUSED.values(), FILE_SECRET, armored.splitlines()[3]]
        checked = _grep([p.root, cache, tmp], [plan.stdout + plan.stderr, run.stdout + run.stderr],
                        secrets, skip={p.root / "docker-password.txt"})  # fmt: skip
        assert checked > 10  # dist/, the store (artifacts, journal), results/
        assert not list(tmp.iterdir())
        assert not list((cache / "runs").iterdir())
        # The gpg-agent the run started (its environment names this test's cache) is gone.
        assert not _started_by(cache), "a process the run started outlived it"
    finally:
        pypi.stop()


def _started_by(cache: Path) -> list[int]:
    """Live processes whose environment carries ``BUILD_SUPPORT_CACHE=<cache>``."""
    marker = f"BUILD_SUPPORT_CACHE={cache}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes() if entry.name.isdigit() else b""
        except OSError:
            continue
        if marker in environ.split(b"\0") and procs.process_state(int(entry.name)) != "Z":
            found.append(int(entry.name))
    return found


def _run_folders(cache: Path) -> list[Path]:
    runs = cache / "runs"
    return sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []


def _spawn(p: Project, log: Path, *, new_session: bool = False) -> subprocess.Popen[str]:
    with log.open("w") as out:
        return p.spawn("--execute", stdout=out, new_session=new_session)


def _wait_for(proc: subprocess.Popen[str], log: Path, cache: Path, pattern: str) -> Path:
    """The first file matching ``pattern`` under ``cache``, as soon as the run makes it."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        found = sorted(cache.glob(pattern))
        if found:
            return found[0]
        assert proc.poll() is None, f"publish ended before {pattern} appeared:\n{log.read_text()}"
        time.sleep(0.005)
    raise AssertionError(f"no {pattern} within 240 s")


def test_sigkill_during_signing_leaves_key_and_agent_only_in_the_swept_run_folder(
    tmp_path: Path, dav: ApacheDav, gpg_key: GpgKey
) -> None:
    armored = gpg_key.armored
    cache, tmp = tmp_path / "cache", tmp_path / "tmp"
    tmp.mkdir()
    p = make_project(tmp_path, '[tool.build_support.publish]\ntargets = ["maven"]\n'
                     + _maven_toml(dav),
                     {"TEST_MAVEN_USER": dav.username, "BUILD_SUPPORT_MAVEN_PASSWORD":
                      MAVEN_PASSWORD, "BUILD_SUPPORT_GPG_KEY": armored,
                      "BUILD_SUPPORT_GPG_PASSPHRASE": GPG_PASSPHRASE,
                      "BUILD_SUPPORT_CACHE": str(cache), "TMPDIR": str(tmp)})  # fmt: skip
    store_java(p)
    # A 24 MiB main JAR: signing and verifying it keeps the key and the agent around for a
    # while, so the test sees them in time even on a loaded machine.
    big = tiny_jar(tmp_path / "big" / "minray-api-0.1.0.jar", p.sha,
                   {"io/minray/api/X.class": os.urandom(24 << 20)})  # fmt: skip
    big_key = keys.jar_key("main", p.sha, "linux", big.name)
    p.store.put(big_key, big)
    p.attest(big_key, big)  # its statement names these bytes (the provenance gate)
    p.pass_release_tests()
    log = tmp_path / "killed.log"
    proc = _spawn(p, log)
    key = _wait_for(proc, log, cache, "runs/*/gnupg/private-keys-v1.d/*.key")
    proc.send_signal(signal.SIGSTOP)  # frozen where it is; then checked to be mid-signing
    token = json.loads(next(cache.glob("runs/*/owner.json")).read_text())["token"]
    agents = procs.marked_pids(token)
    late = "publish had finished signing before it was stopped"
    assert agents, late
    assert key.exists(), late
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    assert not list(tmp.iterdir()), "a kill left files in the temporary folder"
    (folder,) = _run_folders(cache)
    assert key.is_relative_to(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in _files(folder):  # the passphrase went to gpg by fd, never to a file
        assert GPG_PASSPHRASE.encode() not in path.read_bytes(), path
    assert procs.marked_pids(token) == agents  # the agent outlived the kill
    assert all(b"gpg-agent" in Path(f"/proc/{a}/cmdline").read_bytes() for a in agents)
    assert set(agents) <= set(_started_by(cache))

    again = p.publish("--execute")
    assert again.returncode == 0, again.stderr
    assert f"swept the stale run folder {folder} of publish (pid {proc.pid}, gone)" in (
        again.stderr
    )
    assert "leftover process" in again.stderr
    assert all(procs.process_state(a) in ("gone", "Z", "X") for a in agents)
    assert not _started_by(cache)  # nor the rerun's own agent
    assert not folder.exists()
    assert not _run_folders(cache)
    assert not list(tmp.iterdir())
    assert not list(Path("/tmp").glob(f"bs-{token[:12]}-*"))  # the short alias went too
    asc = dav.path("releases/io/minray/minray-api/0.1.0/minray-api-0.1.0.jar.asc")
    assert asc.is_file()


@pytest.mark.docker
def test_sigkill_after_the_registry_login_leaves_it_only_in_the_swept_run_folder(
    tmp_path: Path,
) -> None:
    from tests.integration.test_publish_docker import NS, _images, _remove_images

    registry = DockerRegistry(tmp_path / "registry")
    registry.start()
    cache, tmp = tmp_path / "cache", tmp_path / "tmp"
    tmp.mkdir()
    try:
        p = make_project(tmp_path, registry.toml(NS, ["base-deps", "minray"]),
                         {"TEST_REGISTRY_USER": registry.username,
                          "TEST_REGISTRY_PASSWORD": REGISTRY_PASSWORD,
                          "BUILD_SUPPORT_CACHE": str(cache), "TMPDIR": str(tmp)})  # fmt: skip
        p.pass_release_tests()
        _images(p, tmp_path, ("x86_64",), big=32 << 20)
        log = tmp_path / "killed.log"
        proc = _spawn(p, log, new_session=True)
        login = _wait_for(proc, log, cache, "runs/*/docker-config/config.json")
        os.killpg(proc.pid, signal.SIGSTOP)  # frozen where it is: logged in, pushing
        assert login.exists(), "publish had finished before it was stopped"
        os.killpg(proc.pid, signal.SIGKILL)  # the stage and its docker client, as CI does
        proc.wait(10)

        assert not list(tmp.iterdir()), "a kill left files in the temporary folder"
        (folder,) = _run_folders(cache)
        assert login.is_relative_to(folder)
        assert "auths" in login.read_text()
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE(login.parent.stat().st_mode) == 0o700

        again = p.publish("--execute")
        assert again.returncode == 0, again.stderr
        assert f"swept the stale run folder {folder} of publish" in again.stderr
        assert not folder.exists()
        assert not _run_folders(cache)
        assert not list(tmp.iterdir())
    finally:
        registry.stop()
        _remove_images(registry)
