"""The publish stage against a real pypiserver (htpasswd via passlib) on loopback."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest

from tests.publishing import (
    PYPI_PASSWORD,
    Project,
    PypiServer,
    assert_no_secret,
    make_project,
    pip_download,
    tiny_wheel,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path, pypi: PypiServer) -> Project:
    p = make_project(tmp_path, pypi.toml(), {"BUILD_SUPPORT_PYPI_PASSWORD": PYPI_PASSWORD})
    for dist in ("minray", "minray-cpp"):
        p.put_wheel(tiny_wheel(tmp_path / "built", dist, "0.1.0", p.sha, payload=dist.encode()))
    p.pass_release_tests()
    return p


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_plan_execute_download_and_idempotent_rerun(
    project: Project, pypi: PypiServer, tmp_path: Path
) -> None:
    plan = project.publish()
    assert plan.returncode == 0, plan.stderr
    assert "nothing was sent" in plan.stderr
    items = project.plan()["items"]
    assert isinstance(items, list)
    assert {i["action"] for i in items} == {"send"}
    assert all(len(i["sha256"]) == 64 and i["sha256"] in plan.stderr for i in items)
    assert not list(pypi.packages.iterdir()), "plan mode sent something"

    run = project.publish("--execute")
    assert run.returncode == 0, run.stderr
    got = pip_download(pypi.url + "/simple/", pypi.username, PYPI_PASSWORD, "minray==0.1.0",
                       tmp_path / "dl")  # fmt: skip
    stored = {
        o.key.rsplit("/", 1)[-1]: o.sha256
        for o in project.store.list(f"main/{project.sha}/")
        if o.key.endswith(".whl")  # not the SBOMs and statements beside them
    }
    assert [p.name for p in got] == ["minray-0.1.0-py3-none-any.whl"]
    assert _sha(got[0]) == stored[got[0].name]
    journal = project.journal()
    entries = journal["entries"]
    assert isinstance(entries, dict)
    assert sorted(e["state"] for e in entries.values()) == ["done", "done"]
    assert {k.split()[0] for k in entries} == set(stored.values())

    again = project.publish("--execute")
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stderr
    # Nothing was sent again (its speed, <= 2 s, is measured by benchmarks/bench_publish.py).
    assert len(pypi.uploads()) == 2
    journal_text = (project.store.root / "publish" / project.sha / "journal.json").read_text()
    plan_text = (project.root / "dist" / "publish" / "plan.json").read_text()
    assert_no_secret([plan.stdout, plan.stderr, run.stdout, run.stderr, again.stdout,
                      again.stderr, journal_text, plan_text], [PYPI_PASSWORD])  # fmt: skip


def test_same_name_other_bytes_is_refused_before_anything_is_sent(
    project: Project, pypi: PypiServer, tmp_path: Path
) -> None:
    impostor = tiny_wheel(tmp_path / "other", "minray", "0.1.0", project.sha, payload=b"other")
    (pypi.packages / impostor.name).write_bytes(impostor.read_bytes())
    run = project.publish("--execute")
    assert run.returncode == 16, run.stderr
    assert "gate(s) versions" in run.stderr
    assert _sha(impostor) in run.stderr
    ours = next(o for o in project.store.list("main/") if o.key.endswith(impostor.name))
    assert ours.sha256 in run.stderr
    assert sorted(p.name for p in pypi.packages.iterdir()) == [impostor.name]


def test_an_identical_file_already_there_is_skipped(project: Project, pypi: PypiServer) -> None:
    ours = next(o for o in project.store.list("main/") if o.key.endswith(".whl"))
    name = ours.key.rsplit("/", 1)[-1]
    project.store.get(ours.key, pypi.packages / name)
    run = project.publish("--execute")
    assert run.returncode == 0, run.stderr
    plan = {i["artifact"]: i["action"] for i in project.plan()["items"]}
    assert plan[name] == "skip"
    assert len(pypi.uploads()) == 1


def test_killed_mid_run_resumes_without_duplicates(project: Project, pypi: PypiServer,
                                                   tmp_path: Path) -> None:  # fmt: skip
    for i in range(4):
        project.put_wheel(tiny_wheel(tmp_path / "more", f"extra{i}", "0.1.0", project.sha,
                                     payload=bytes(range(256)) * 4000))  # fmt: skip
    with (tmp_path / "killed.log").open("w") as out:
        proc = project.spawn("--execute", stdout=out)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            entries = project.journal().get("entries", {})
            assert isinstance(entries, dict)
            if sum(e["state"] == "done" for e in entries.values()) >= 2:
                break
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    entries = project.journal()["entries"]
    assert isinstance(entries, dict)
    done_at_kill = {k for k, e in entries.items() if e["state"] == "done"}
    on_index_at_kill = {p.name for p in pypi.packages.iterdir()}
    assert 2 <= len(done_at_kill) < 6, "the kill came too late to test a resume"
    uploads_at_kill = len(pypi.uploads())

    run = project.publish("--execute")
    assert run.returncode == 0, run.stderr
    entries = project.journal()["entries"]
    assert isinstance(entries, dict)
    assert len(entries) == 6
    assert {e["state"] for e in entries.values()} == {"done"}
    assert len(list(pypi.packages.iterdir())) == 6
    actions = {i["artifact"]: i["action"] for i in project.plan()["items"]}
    assert all(actions[name] == "skip" for name in on_index_at_kill)
    # Nothing that had reached the index before the kill was uploaded again.
    assert len(pypi.uploads()) - uploads_at_kill == 6 - len(on_index_at_kill)
    assert "nothing to do" in project.publish("--execute").stderr


def test_gates_refuse_with_exit_16_naming_each(project: Project, tmp_path: Path) -> None:
    run = project.publish("--execute", env={"BUILDKITE_PULL_REQUEST": "42",
                                            "BUILD_SUPPORT_BRANCH": "feature"})  # fmt: skip
    assert run.returncode == 16
    assert "gate 'pull-request'" in run.stderr
    assert "gate 'branch'" in run.stderr
    project.put_wheel(tiny_wheel(tmp_path / "w", "stray", "0.1.0", "f" * 40))
    run = project.publish("--execute")
    assert run.returncode == 16
    assert "gate 'commit'" in run.stderr
    assert "stray" in run.stderr


def test_release_tests_gate_and_its_loud_skip(tmp_path: Path, pypi: PypiServer) -> None:
    p = make_project(tmp_path, pypi.toml(), {"BUILD_SUPPORT_PYPI_PASSWORD": PYPI_PASSWORD})
    p.put_wheel(tiny_wheel(tmp_path / "built", "minray", "0.1.0", p.sha))
    run = p.publish("--execute")
    assert run.returncode == 16
    assert "gate 'release-tests'" in run.stderr
    p.pass_release_tests(exit_code=1)
    assert p.publish("--execute").returncode == 16
    run = p.publish("--execute", "--skip-release-tests-gate")
    assert run.returncode == 0, run.stderr
    assert "THE RELEASE-TESTS GATE IS SKIPPED" in run.stderr


def _receive_queue(port: int) -> int:
    """Bytes the kernel holds for the server on ``port``, not yet read by it."""
    total = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            total += int(fields[4].split(":")[1], 16)
    return total


def _kill_mid_upload(project: Project, pypi: PypiServer, name: str, log: Path) -> None:
    """SIGKILL the stage and its twine while ``name``'s bytes are on the wire: the journal
    shows the upload pending, the server is paused (SIGSTOP) until twine's socket is
    full, the whole process group is killed, then the server resumes and stores what it
    got, as pypiserver does with a cut-off request."""
    assert pypi.proc is not None
    with log.open("w") as out:
        proc = project.spawn("--execute", stdout=out, new_session=True)
        deadline = time.monotonic() + 180
        while not any(e["name"] == name and e["state"] == "pending"
                      for e in project.journal().get("entries", {}).values()):  # fmt: skip
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the upload was never journaled"
            time.sleep(0.01)
        os.kill(pypi.proc.pid, signal.SIGSTOP)
        try:
            last, since = -1, time.monotonic()
            while time.monotonic() - since < 1.0 or last < 32 << 10:
                queued = _receive_queue(pypi.port)
                if queued != last:
                    last, since = queued, time.monotonic()
                assert time.monotonic() < deadline, f"twine sent nothing ({last} bytes)"
                time.sleep(0.02)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        finally:
            os.kill(pypi.proc.pid, signal.SIGCONT)
    while f"stored '{name}'" not in pypi.log.read_text():
        assert time.monotonic() < deadline, "pypiserver kept nothing"
        time.sleep(0.05)


def test_a_killed_upload_is_named_as_ours_and_repair_partial_resends_it(
    project: Project, pypi: PypiServer, tmp_path: Path
) -> None:
    """Issue 18.4: a kill mid-upload leaves part of the wheel on pypiserver. The rerun
    refuses (exit 16) saying it is our own interrupted upload and how to get out;
    ``--repair-partial`` removes it and resends, and the index ends with our bytes."""
    big = tiny_wheel(tmp_path / "big", "bigdist", "0.1.0", project.sha,
                     payload=os.urandom(24 << 20))  # fmt: skip
    project.put_wheel(big)
    _kill_mid_upload(project, pypi, big.name, tmp_path / "killed.log")
    partial = (pypi.packages / big.name).read_bytes()
    assert 0 < len(partial) < big.stat().st_size
    uploads = len(pypi.uploads())

    run = project.publish("--execute")
    assert run.returncode == 16, run.stderr
    assert "OUR OWN INTERRUPTED UPLOAD" in run.stderr
    assert _sha(big) in run.stderr
    assert hashlib.sha256(partial).hexdigest() in run.stderr
    assert f"{len(partial)} of our {big.stat().st_size} bytes, the start of ours" in run.stderr
    assert "--repair-partial" in run.stderr
    assert ".postN" in run.stderr
    assert len(pypi.uploads()) == uploads
    assert (pypi.packages / big.name).read_bytes() == partial

    repaired = project.publish("--execute", "--repair-partial")
    assert repaired.returncode == 0, repaired.stderr
    assert "--repair-partial: removed bigdist 0.1.0" in repaired.stderr
    got = pip_download(pypi.url + "/simple/", pypi.username, PYPI_PASSWORD, "bigdist==0.1.0",
                       tmp_path / "dl")  # fmt: skip
    assert [_sha(p) for p in got] == [_sha(big)]
    assert len(list(pypi.packages.iterdir())) == 3
    assert "nothing to do" in project.publish("--execute").stderr


def test_a_version_already_holding_another_commit_gets_no_files_of_ours(
    project: Project, pypi: PypiServer, tmp_path: Path
) -> None:
    """Issue 18.11: minray 0.1.0 on the index already has a wheel built from another
    commit (read from inside it): adding ours would mix two commits in one version."""
    other = tiny_wheel(tmp_path / "other", "minray", "0.1.0", "e" * 40,
                       tag="cp312-cp312-manylinux2014_x86_64")  # fmt: skip
    (pypi.packages / other.name).write_bytes(other.read_bytes())
    run = project.publish("--execute")
    assert run.returncode == 16, run.stderr
    assert "gate(s) versions" in run.stderr
    assert f"{other.name} (commit {'e' * 40})" in run.stderr
    assert not pypi.uploads()
    # The same file name from our commit is not a conflict: the version stays one commit.
    same = tiny_wheel(tmp_path / "same", "minray", "0.1.0", project.sha,
                      tag="cp312-cp312-manylinux2014_x86_64")  # fmt: skip
    (pypi.packages / other.name).write_bytes(same.read_bytes())
    run = project.publish("--execute")
    assert run.returncode == 0, run.stderr
    assert len(pypi.uploads()) == 2
