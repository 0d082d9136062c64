from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from build_support import config, store
from build_support.errors import (
    ArtifactNotFoundError,
    ConfigError,
    GateError,
    InputError,
    IntegrityError,
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
        local.copy("main/x.whl", "latest/x.whl")


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
    copied = local.copy("main/1111111/a.whl", "latest/a.whl")
    assert copied.sha256 == local.info("main/1111111/a.whl").sha256
    assert local.exists("latest/a.whl")
    assert local.delete("main/2222222/a.whl") is True
    assert local.delete("main/2222222/a.whl") is False
    assert not (local.root / "main" / "2222222").exists()  # empty dirs pruned


def test_copy_of_corrupt_object_fails_and_writes_nothing(local: LocalStore, artifact: Path) -> None:
    local.put("main/a.whl", artifact)
    (local.root / "main" / "a.whl").write_bytes(b"bad")
    with pytest.raises(IntegrityError, match="corrupt"):
        local.copy("main/a.whl", "latest/a.whl")
    assert not local.exists("latest/a.whl")
    assert [p.name for p in (local.root / "latest").iterdir()] == []


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
    cfg = config.from_table(table, tmp_path)
    with pytest.raises(ConfigError, match="retry_attempts"):
        store.settings_from(cfg)
    cfg = config.from_table({"store": {"multipart_threshold_mb": 1}}, tmp_path)
    with pytest.raises(ConfigError, match="minimum part size"):
        store.settings_from(cfg)
    cfg = config.from_table({"store": {"bogus": 1}}, tmp_path)
    with pytest.raises(ConfigError, match="unknown key"):
        store.settings_from(cfg)
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


def _cfg(tmp_path: Path) -> config.Config:
    return config.from_table({"artifact_store": str(tmp_path / "st")}, tmp_path)


def test_cli_put_ls_promote_get_rm(
    tmp_path: Path, artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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
