from __future__ import annotations

import hashlib
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from build_support import commits, config, store
from build_support.errors import (
    ArtifactNotFoundError,
    ConfigError,
    GateError,
    InputError,
    IntegrityError,
    StoreError,
    StoreTimeoutError,
    UsageError,
)
from build_support.store import LocalStore, StoreSettings, keys
from build_support.store.progress import Progress

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    p = tmp_path / "minray-1.0-py3-none-any.whl"
    p.write_bytes(b"wheel bytes " * 1000)
    return p


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def test_put_writes_object_and_sha256_sidecar(local: LocalStore, artifact: Path) -> None:
    key = keys.wheel_key("releases/2.1", SHA, artifact.name)
    info = local.put(key, artifact)
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert info == store.ObjectInfo(key, artifact.stat().st_size, digest)
    obj = local.root / "releases" / "2.1" / SHA / artifact.name
    assert obj.read_bytes() == artifact.read_bytes()
    assert (obj.parent / (artifact.name + ".sha256")).read_text() == f"{digest}  {artifact.name}\n"
    assert [p.name for p in obj.parent.iterdir() if p.name.startswith(".")] == []


def test_reput_identical_is_noop(
    local: LocalStore, artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local.put("a/f.whl", artifact)
    mtime = (local.root / "a" / "f.whl").stat().st_mtime_ns
    local.put("a/f.whl", artifact)
    assert (local.root / "a" / "f.whl").stat().st_mtime_ns == mtime
    assert "unchanged" in capsys.readouterr().err


def test_put_missing_file(local: LocalStore, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a file"):
        local.put("a/x", tmp_path / "nope")
    assert not local.root.exists() or list(local.root.rglob("*")) == []


def test_get_verifies_and_detects_corruption(
    local: LocalStore, artifact: Path, tmp_path: Path
) -> None:
    local.put("a/f.whl", artifact)
    out = tmp_path / "out"
    out.mkdir()
    info = local.get("a/f.whl", out)
    assert (out / "f.whl").read_bytes() == artifact.read_bytes()
    assert info.sha256 == hashlib.sha256(artifact.read_bytes()).hexdigest()
    (local.root / "a" / "f.whl").write_bytes(b"tampered")
    dest = tmp_path / "out2" / "f.whl"
    with pytest.raises(IntegrityError, match="corrupt"):
        local.get("a/f.whl", dest)
    assert list(dest.parent.iterdir()) == []  # no partial file, no temp file


def test_object_without_checksum_is_an_integrity_error(local: LocalStore, tmp_path: Path) -> None:
    (local.root / "x").mkdir(parents=True)
    (local.root / "x" / "hand.whl").write_bytes(b"x")
    assert not local.exists("x/hand.whl")
    with pytest.raises(IntegrityError, match="no recorded SHA-256"):
        local.get("x/hand.whl", tmp_path / "h.whl")
    assert local.list() == []


def test_missing_key(local: LocalStore, tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFoundError, match=r"main/x\.whl is not in the store"):
        local.get("main/x.whl", tmp_path / "x.whl")
    assert not (tmp_path / "x.whl").exists()
    with pytest.raises(ArtifactNotFoundError):
        local.copy("main/x.whl", "other/x.whl")
    with pytest.raises(ArtifactNotFoundError):
        local.promote("main/x.whl", ctx=_ctx("main"), default_branch="main")


def test_list_copy_delete(local: LocalStore, artifact: Path) -> None:
    for k in ("main/1111111/a.whl", "main/1111111/b.whl", "main/2222222/a.whl", "other/a"):
        local.put(k, artifact)
    assert [o.key for o in local.list("main/1111111/")] == [
        "main/1111111/a.whl",
        "main/1111111/b.whl",
    ]
    assert [o.key for o in local.list("main/2")] == ["main/2222222/a.whl"]
    assert len(local.list()) == 4
    assert local.list("nothing/") == []
    copied = local.copy("main/1111111/a.whl", "copies/a.whl")
    assert copied.sha256 == local.info("main/1111111/a.whl").sha256
    assert local.exists("copies/a.whl")
    assert local.delete("main/2222222/a.whl") is True
    assert local.delete("main/2222222/a.whl") is False
    assert not (local.root / "main" / "2222222").exists()  # empty dirs pruned


def test_copy_of_corrupt_object_fails_and_writes_nothing(local: LocalStore, artifact: Path) -> None:
    local.put("main/a.whl", artifact)
    (local.root / "main" / "a.whl").write_bytes(b"bad")
    with pytest.raises(IntegrityError, match="corrupt"):
        local.copy("main/a.whl", "copies/a.whl")
    assert not local.exists("copies/a.whl")
    assert [p.name for p in (local.root / "copies").iterdir()] == []


def test_invalid_keys_rejected(local: LocalStore, artifact: Path) -> None:
    with pytest.raises(UsageError):
        local.put("../escape", artifact)
    with pytest.raises(UsageError):
        local.get("a/../../etc/passwd", artifact.parent)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def test_wait_for_times_out(tmp_path: Path) -> None:
    clock = Clock()
    s = LocalStore(tmp_path / "s", clock=clock, sleep=clock.sleep)
    with pytest.raises(StoreTimeoutError, match=r"jars/x.*produced by jars.*waiting 65s"):
        s.wait_for("jars/x", timeout=65, interval=30, producer="jars")
    assert clock.sleeps == [30, 30, 5]


def test_wait_for_returns_when_it_appears(tmp_path: Path, artifact: Path) -> None:
    clock = Clock()
    s = LocalStore(tmp_path / "s", clock=clock)

    def sleep(secs: float) -> None:
        clock.sleep(secs)
        if len(clock.sleeps) == 2:
            s.put("k/a.whl", artifact)

    s.sleep = sleep
    assert s.wait_for("k/a.whl", timeout=600, interval=10).key == "k/a.whl"
    assert clock.sleeps == [10, 10]


def test_settings_validation(tmp_path: Path) -> None:
    table = {"artifact_store": "arts", "store": {"retry_attempts": 0}}
    with pytest.raises(ConfigError, match="retry_attempts"):
        config.from_table(table, tmp_path)
    with pytest.raises(ConfigError, match="minimum part size"):
        config.from_table({"store": {"multipart_threshold_mb": 1}}, tmp_path)
    with pytest.raises(ConfigError, match="unknown key"):
        config.from_table({"store": {"bogus": 1}}, tmp_path)
    assert StoreSettings().retry_attempts == 5


def test_open_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(store.open_url(f"file://{tmp_path}/a"), LocalStore)
    s = store.open_url("rel", root=tmp_path)
    assert isinstance(s, LocalStore)
    assert s.root == tmp_path / "rel"
    with pytest.raises(UsageError, match="unsupported store URL"):
        store.open_url("ftp://x.invalid/y")
    cfg = config.from_table({}, tmp_path)
    monkeypatch.delenv("BUILD_SUPPORT_STORE", raising=False)
    default = store.open_store(cfg)
    assert isinstance(default, LocalStore)
    assert default.root == tmp_path / ".artifacts"
    monkeypatch.setenv("BUILD_SUPPORT_STORE", str(tmp_path / "env"))
    assert store.open_store(cfg).url == f"file://{tmp_path}/env"


def _ctx(branch: str, pr_number: int | None = None) -> commits.BuildContext:
    evidence = f"BUILDKITE_PULL_REQUEST={pr_number}" if pr_number is not None else ""
    return commits.BuildContext(
        branch=branch, sha=SHA, pr_number=pr_number, dirty=False, pr_evidence=evidence
    )


def _ci_env(monkeypatch: pytest.MonkeyPatch, *, branch: str, pr: str = "") -> None:
    """The CI variables that name the branch and the pull request (none: not a PR)."""
    for name in ("BUILDKITE_BRANCH", "GITHUB_HEAD_REF", "GITHUB_REF_NAME", "GITHUB_EVENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BUILD_SUPPORT_BRANCH", branch)
    monkeypatch.setenv("BUILDKITE_PULL_REQUEST", pr or "false")


def _cfg(tmp_path: Path) -> config.Config:
    return config.from_table({"artifact_store": str(tmp_path / "st")}, tmp_path)


def test_cli_put_ls_promote_get_rm(
    tmp_path: Path,
    artifact: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _ci_env(monkeypatch, branch="main")
    cfg = _cfg(tmp_path)
    prefix = f"main/{SHA}/"
    assert store.cli_main(["put", str(artifact), prefix], cfg) == 0
    assert store.cli_main(["ls", "main/", "--json"], cfg) == 0
    listed = capsys.readouterr().out
    assert f'"key": "{prefix}{artifact.name}"' in listed
    with pytest.raises(GateError):
        store.cli_main(["promote", "--branch", "releases/2.1", "--sha", SHA], cfg)
    assert store.cli_main(["promote", "--branch", "main", "--sha", SHA], cfg) == 0
    dest = tmp_path / "dl"
    dest.mkdir()
    assert store.cli_main(["get", f"latest/{artifact.name}", str(dest)], cfg) == 0
    assert (dest / artifact.name).read_bytes() == artifact.read_bytes()
    assert store.cli_main(["rm", f"latest/{artifact.name}"], cfg) == 0
    assert not (tmp_path / "st" / "latest").exists()


def test_cli_store_option_and_errors(tmp_path: Path, artifact: Path) -> None:
    cfg = _cfg(tmp_path)
    other = tmp_path / "other"
    assert store.cli_main(["put", "--store", str(other), str(artifact), "x/a.whl"], cfg) == 0
    assert (other / "x" / "a.whl").is_file()
    with pytest.raises(UsageError, match="end the key with '/'"):
        store.cli_main(["put", str(artifact), str(artifact), "x/a.whl"], cfg)
    with pytest.raises(UsageError, match="invalid choice"):
        store.cli_main(["frobnicate"], cfg)
    with pytest.raises(StoreTimeoutError, match="produced by wheel"):
        store.cli_main(
            ["wait", "x/b.whl", "--timeout", "0", "--interval", "1", "--producer", "wheel"], cfg
        )


class Tty:
    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


def test_progress_live_and_summary() -> None:
    t = [0.0]
    out = Tty()
    p = Progress("put", "big.whl", 8 * 1024 * 1024, stream=out, live=True, clock=lambda: t[0])  # type: ignore[arg-type]
    for _ in range(8):
        t[0] += 0.5
        p(1024 * 1024)
    p.finish()
    assert out.text.count("\r") >= 8
    assert "8.0 MiB / 8.0 MiB (100%) 2.0 MiB/s" in out.text
    ci = Tty()
    q = Progress("get", "big.whl", 8 * 1024 * 1024, stream=ci, live=False, clock=lambda: t[0])  # type: ignore[arg-type]
    q(8 * 1024 * 1024)
    q.finish()
    assert ci.text.count("\n") == 1
    assert "\r" not in ci.text
    small = Tty()
    r = Progress("get", "s", 10, stream=small, live=True)  # type: ignore[arg-type]
    r(10)
    r.finish()
    assert small.text == ""


# --- issue 10 §4: the store cannot be left corrupt, and it says no clearly ------------


def _put_rounds(root: str, src: str, key: str, barrier: Any, rounds: int) -> None:
    """A worker process: put ``src`` as ``key`` once per round, in step with the others."""
    s = LocalStore(Path(root))
    for _ in range(rounds):
        barrier.wait()
        s.put(key, Path(src))
        barrier.wait()


@pytest.mark.subprocess
def test_concurrent_puts_of_one_key_never_leave_object_and_checksum_disagreeing(
    tmp_path: Path,
) -> None:
    """Four real processes put different content to one key, 300 rounds; check each."""
    workers, rounds = 4, 300
    sources = []
    for i in range(workers):
        src = tmp_path / f"src{i}.whl"
        src.write_bytes(bytes([65 + i]) * 200_000)
        sources.append(src)
    root = tmp_path / "store"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    procs = [
        ctx.Process(target=_put_rounds, args=(str(root), str(src), "main/f.whl", barrier, rounds))
        for src in sources
    ]
    for proc in procs:
        proc.start()
    obj = root / "main" / "f.whl"
    sidecar = obj.with_name("f.whl.sha256")
    disagreeing = 0
    try:
        for _ in range(rounds):
            for f in (obj, sidecar):  # every round starts from an empty key
                f.unlink(missing_ok=True)
            barrier.wait(timeout=60)
            barrier.wait(timeout=60)
            recorded = sidecar.read_text().split()[0]
            if hashlib.sha256(obj.read_bytes()).hexdigest() != recorded:
                disagreeing += 1
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():  # pragma: no cover - only when a barrier broke
                proc.kill()
    assert [proc.exitcode for proc in procs] == [0] * workers
    assert disagreeing == 0, f"{disagreeing} of {rounds} rounds left object and .sha256 apart"


def test_reput_rehashes_the_stored_object_and_repairs_it(
    local: LocalStore, artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local.put("main/f.whl", artifact)
    obj = local.root / "main" / "f.whl"
    obj.write_bytes(b"X" * artifact.stat().st_size)  # same size, sidecar untouched
    with pytest.raises(IntegrityError, match="corrupt"):
        local.get("main/f.whl", tmp_path / "out.whl")
    capsys.readouterr()
    local.put("main/f.whl", artifact)
    err = capsys.readouterr().err
    assert "unchanged" not in err
    assert "corrupt" in err
    assert obj.read_bytes() == artifact.read_bytes()
    local.get("main/f.whl", tmp_path / "out.whl")
    assert (tmp_path / "out.whl").read_bytes() == artifact.read_bytes()


def test_put_latest_is_refused_and_only_promote_writes_it(
    local: LocalStore, artifact: Path
) -> None:
    with pytest.raises(GateError, match="reserved for promotion"):
        local.put(f"latest/{artifact.name}", artifact)
    local.put(f"main/{SHA}/{artifact.name}", artifact)
    with pytest.raises(GateError, match="reserved for promotion"):
        local.copy(f"main/{SHA}/{artifact.name}", f"latest/{artifact.name}")
    with pytest.raises(GateError, match="only 'main' writes latest/"):
        local.promote(f"main/{SHA}/{artifact.name}", ctx=_ctx("dev"), default_branch="main")
    with pytest.raises(GateError, match="pull request #7"):
        local.promote(f"main/{SHA}/{artifact.name}", ctx=_ctx("main", 7), default_branch="main")
    assert not (local.root / "latest").exists()
    info = local.promote(f"main/{SHA}/{artifact.name}", ctx=_ctx("main"), default_branch="main")
    assert info.key == f"latest/{artifact.name}"


def _project(tmp_path: Path, store_dir: Path) -> Path:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        f'[tool.build_support]\nartifact_store = "{store_dir}"\n', encoding="utf-8"
    )
    return project


def test_cli_put_latest_exits_16_and_promote_from_a_pull_request_too(
    tmp_path: Path, artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from build_support import cli

    monkeypatch.chdir(_project(tmp_path, tmp_path / "st"))
    monkeypatch.delenv("BUILD_SUPPORT_STORE", raising=False)
    assert cli.run_stage("store", ["put", str(artifact), "latest/"]) == 16
    assert cli.run_stage("store", ["put", str(artifact), f"main/{SHA}/"]) == 0
    _ci_env(monkeypatch, branch="main", pr="42")
    assert cli.run_stage("store", ["promote", "--sha", SHA]) == 16
    # F4: a Buildkite pull request whose value is not a number is a pull request all the same
    _ci_env(monkeypatch, branch="main", pr="feature-x")
    assert cli.run_stage("store", ["promote", "--sha", SHA]) == 16
    _ci_env(monkeypatch, branch="feature")
    assert cli.run_stage("store", ["promote", "--branch", "main", "--sha", SHA]) == 16
    assert not (tmp_path / "st" / "latest").exists()
    _ci_env(monkeypatch, branch="main")
    assert cli.run_stage("store", ["promote", "--sha", SHA]) == 0
    assert (tmp_path / "st" / "latest" / artifact.name).is_file()


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("main/" + "w" * 201 + ".whl", "the limit is 200"),
        ("/".join(["abcdefgh"] * 120), "the limit is 900"),
        ("main/.hidden.whl", "is hidden"),
        (".locks/x", "is hidden"),
        ("main/f.whl.sha256", "reserved for checksums"),
    ],
)
def test_bad_keys_are_usage_errors_not_tracebacks(
    local: LocalStore, artifact: Path, key: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        local.put(key, artifact)
    assert not local.root.exists() or [p.name for p in local.root.iterdir()] == []


def test_a_key_that_is_a_folder_or_under_an_object_is_a_clear_error(
    local: LocalStore, artifact: Path, tmp_path: Path
) -> None:
    local.put("main/abc/f.whl", artifact)
    with pytest.raises(StoreError, match="is a folder"):
        local.put("main/abc", artifact)
    with pytest.raises(StoreError, match="is a folder"):
        local.copy("main/abc/f.whl", "main")
    with pytest.raises(ArtifactNotFoundError, match="is a folder"):
        local.get("main/abc", tmp_path / "x")
    with pytest.raises(StoreError, match="is a folder"):
        local.delete("main/abc")
    with pytest.raises(StoreError, match=r"main/abc/f\.whl is an object"):
        local.put("main/abc/f.whl/inner", artifact)
    assert [o.key for o in local.list()] == ["main/abc/f.whl"]


def test_a_symlink_inside_the_store_root_is_refused(
    local: LocalStore, artifact: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    local.root.mkdir(parents=True)
    (local.root / "main").symlink_to(outside, target_is_directory=True)
    with pytest.raises(StoreError, match="symbolic link"):
        local.put("main/f.whl", artifact)
    assert list(outside.iterdir()) == []
    (outside / "f.whl").write_bytes(b"secret")
    (outside / "f.whl.sha256").write_text(hashlib.sha256(b"secret").hexdigest() + "  f.whl\n")
    with pytest.raises(StoreError, match="symbolic link"):
        local.get("main/f.whl", tmp_path / "got")
    assert not (tmp_path / "got").exists()
    local.put("real/f.whl", artifact)
    (local.root / "real" / "g.whl").symlink_to(tmp_path / "outside" / "f.whl")
    with pytest.raises(StoreError, match="symbolic link"):
        local.put("real/g.whl", artifact)
    assert (outside / "f.whl").read_bytes() == b"secret"


def test_get_into_a_folder_that_does_not_exist(
    local: LocalStore, artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local.put("main/f.whl", artifact)
    monkeypatch.chdir(tmp_path)
    assert (
        store.cli_main(["get", "--store", str(local.root), "main/f.whl", "new/"], _cfg(tmp_path))
        == 0
    )
    assert (tmp_path / "new" / "f.whl").read_bytes() == artifact.read_bytes()
    local.get("main/f.whl", "file-not-dir")  # no trailing '/': a file name
    assert (tmp_path / "file-not-dir").is_file()
    (tmp_path / "in-the-way" / "f.whl").mkdir(parents=True)
    with pytest.raises(InputError, match="directory of that name is in the way"):
        local.get("main/f.whl", tmp_path / "in-the-way")
    with pytest.raises(InputError, match=r"cannot get main/f\.whl"):
        local.get("main/f.whl", str(tmp_path / "file-not-dir") + "/")


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "-0.5"])
def test_cli_wait_refuses_nan_inf_and_negative_numbers(tmp_path: Path, value: str) -> None:
    with pytest.raises(UsageError, match="finite number >= 0"):
        store.cli_main(["wait", "x/b.whl", "--timeout", value], _cfg(tmp_path))
    with pytest.raises(UsageError, match="finite number >= 0"):
        store.cli_main(["wait", "x/b.whl", "--interval", value], _cfg(tmp_path))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1, -2.5])
def test_store_settings_refuse_nan_inf_and_negative_numbers(tmp_path: Path, value: float) -> None:
    names = ["retry_total_seconds", "wait_timeout_seconds", "connect_timeout_seconds"]
    if value == -1:
        names += ["retry_attempts", "multipart_threshold_mb"]
    for name in names:
        with pytest.raises(ConfigError, match=rf"store\.{name} = .* finite number >= 0"):
            store.settings_from(config.from_table({"store": {name: value}}, tmp_path))


def test_s3_key_with_prefix_over_1024_bytes_is_a_usage_error(
    artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked before any request (no server here): the store prefix counts too."""
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    prefix = "/".join(["p" * 190] * 4)  # 763 bytes; with the 390-byte key: 1154
    s = store.S3Store(
        f"s3://bucket/{prefix}",
        StoreSettings(retry_attempts=1, retry_total_seconds=0.1),
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
    )
    with pytest.raises(UsageError, match="S3 allows 1024"):
        s.put("main/" + "k" * 190 + "/" + "w" * 190 + ".whl", artifact)


def test_sweep_removes_dead_writers_temps_and_old_ones_only(tmp_path: Path) -> None:
    from build_support import procs
    from build_support.store import local as local_mod

    host = procs.host_tag()
    now = 10_000.0
    names = {
        f".a.whl.tmp-{host}-111-0011aabb": True,  # this host, writer gone
        f".a.whl.tmp-{host}-222-0011aabb": False,  # this host, writer alive
        ".a.whl.tmp-99999999-111-0011aabb": False,  # another host, recent
        ".b.whl.tmp-99999999-333-0011aabb": True,  # another host, over the lease
        ".c.whl.sha256.tmp-111-0011aabb": False,  # an old name: no host, recent
        "a.whl": False,
        ".hidden": False,
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    os.utime(tmp_path / ".b.whl.tmp-99999999-333-0011aabb", (0, 0))
    removed = local_mod.sweep_temps(tmp_path, now=lambda: now, alive=lambda pid: pid == 222)
    assert sorted(p.name for p in removed) == sorted(n for n, gone in names.items() if gone)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        n for n, gone in names.items() if not gone
    )
