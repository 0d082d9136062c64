"""One behavioural suite, run against both backends: a local directory and S3 (moto)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from build_support import store
from build_support.commits import BuildContext
from build_support.errors import (
    ArtifactNotFoundError,
    GateError,
    InputError,
    IntegrityError,
    StoreTimeoutError,
)
from build_support.store import LocalStore, S3Store, StoreSettings, keys
from tests.integration.conftest import S3Endpoint

SHA = "0123456789abcdef0123456789abcdef01234567"
SETTINGS = StoreSettings(
    retry_attempts=3,
    retry_total_seconds=10,
    multipart_threshold_mb=5,
    connect_timeout_seconds=2,
    read_timeout_seconds=20,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.hook: Callable[[], None] | None = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.hook is not None:
            self.hook()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> store.Store:
    if request.param == "local":
        return store.open_url(str(tmp_path / "store"), SETTINGS, clock=clock, sleep=clock.sleep)
    bucket = request.getfixturevalue("s3_bucket")
    return store.open_url(f"s3://{bucket}/ci", SETTINGS, clock=clock, sleep=clock.sleep)


def corrupt(backend: store.Store, key: str, endpoint: S3Endpoint | None) -> None:
    """Overwrite an object's bytes behind the store's back, keeping its checksum."""
    if isinstance(backend, LocalStore):
        backend.root.joinpath(*key.split("/")).write_bytes(b"evil bytes")
        return
    assert isinstance(backend, S3Store)
    assert endpoint is not None
    client = endpoint.client()
    full = f"{backend.prefix}/{key}"
    old = client.head_object(Bucket=backend.bucket, Key=full)["Metadata"]
    client.put_object(Bucket=backend.bucket, Key=full, Body=b"evil bytes", Metadata=old)


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    p = tmp_path / "minray-1.0-cp312-cp312-manylinux2014_x86_64.whl"
    p.write_bytes(bytes(range(256)) * 4000)
    return p


def test_round_trip_with_slashed_branch(backend: store.Store, wheel: Path, tmp_path: Path) -> None:
    key = keys.wheel_key("releases/2.1", SHA, wheel.name)
    put = backend.put(key, wheel)
    assert put.sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert backend.exists(key)
    assert backend.info(key) == put
    out = tmp_path / "out"
    out.mkdir()
    got = backend.get(key, out)
    assert got == put
    assert (out / wheel.name).read_bytes() == wheel.read_bytes()
    assert sorted(p.name for p in out.iterdir()) == [wheel.name]


def test_reput_identical_is_a_noop(
    backend: store.Store, wheel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend.put("main/x.whl", wheel)
    capsys.readouterr()
    assert backend.put("main/x.whl", wheel).sha256 == backend.info("main/x.whl").sha256
    assert "unchanged" in capsys.readouterr().err


def test_overwrite_with_new_content(backend: store.Store, wheel: Path, tmp_path: Path) -> None:
    backend.put("main/x.whl", wheel)
    wheel.write_bytes(b"v2")
    backend.put("main/x.whl", wheel)
    backend.get("main/x.whl", tmp_path / "x.whl")
    assert (tmp_path / "x.whl").read_bytes() == b"v2"


def test_list_promote_delete(backend: store.Store, wheel: Path) -> None:
    names = ["a.whl", "b.whl"]
    for n in names:
        backend.put(keys.wheel_key("main", SHA, n), wheel)
    backend.put(keys.wheel_key("main", "abcdef0", "a.whl"), wheel)
    backend.put(keys.jar_key("main", SHA, "linux", "minray.jar"), wheel)
    assert [o.key for o in backend.list(keys.commit_prefix("main", SHA))] == [
        f"main/{SHA}/a.whl",
        f"main/{SHA}/b.whl",
    ]
    assert [o.key for o in backend.list("jars/")] == [f"jars/main/{SHA}/linux/minray.jar"]
    assert len(backend.list()) == 4
    assert backend.list("nope/") == []
    with pytest.raises(GateError, match="reserved for promotion"):
        backend.put("latest/a.whl", wheel)
    with pytest.raises(GateError, match="reserved for promotion"):
        backend.copy(keys.wheel_key("main", SHA, "a.whl"), "latest/a.whl")
    pr_ctx = BuildContext(
        branch="main", sha=SHA, pr_number=3, dirty=False, pr_evidence="BUILDKITE_PULL_REQUEST=3"
    )
    with pytest.raises(GateError, match="pull request #3"):
        backend.promote(keys.wheel_key("main", SHA, "a.whl"), ctx=pr_ctx, default_branch="main")
    assert not backend.exists("latest/a.whl")
    promoted = backend.promote(
        keys.wheel_key("main", SHA, "a.whl"),
        ctx=dataclasses.replace(pr_ctx, pr_number=None, pr_evidence=""),
        default_branch="main",
    )
    assert promoted.key == "latest/a.whl"
    assert backend.info("latest/a.whl").sha256 == promoted.sha256
    assert backend.delete("latest/a.whl") is True
    assert backend.delete("latest/a.whl") is False
    assert not backend.exists("latest/a.whl")


def test_missing_key_is_not_found_and_writes_nothing(
    backend: store.Store, tmp_path: Path, clock: FakeClock
) -> None:
    dest = tmp_path / "dl"
    dest.mkdir()
    with pytest.raises(ArtifactNotFoundError, match=r"main/nothing\.whl"):
        backend.get("main/nothing.whl", dest)
    assert list(dest.iterdir()) == []
    assert clock.sleeps == []  # a 404 is never retried
    with pytest.raises(ArtifactNotFoundError):
        backend.copy("main/nothing.whl", "other/nothing.whl")


def test_put_of_missing_file(backend: store.Store, tmp_path: Path) -> None:
    with pytest.raises(InputError):
        backend.put("main/x.whl", tmp_path / "absent.whl")
    assert not backend.exists("main/x.whl")


def test_corruption_is_detected_and_no_partial_file(
    request: pytest.FixtureRequest, backend: store.Store, wheel: Path, tmp_path: Path
) -> None:
    backend.put("main/c.whl", wheel)
    endpoint = request.getfixturevalue("s3_endpoint") if isinstance(backend, S3Store) else None
    corrupt(backend, "main/c.whl", endpoint)
    dest = tmp_path / "dl"
    dest.mkdir()
    with pytest.raises(IntegrityError, match="corrupt"):
        backend.get("main/c.whl", dest)
    assert list(dest.iterdir()) == []


def test_wait_for_fires_its_timeout(backend: store.Store, clock: FakeClock) -> None:
    with pytest.raises(StoreTimeoutError, match=r"main/later\.whl \(produced by wheel\)"):
        backend.wait_for("main/later.whl", timeout=25, interval=10, producer="wheel")
    assert clock.sleeps == [10, 10, 5]


def test_wait_for_sees_the_artifact_arrive(
    backend: store.Store, clock: FakeClock, wheel: Path
) -> None:
    def produce() -> None:
        if len(clock.sleeps) == 3:
            backend.put("main/later.whl", wheel)

    clock.hook = produce
    info = backend.wait_for("main/later.whl", timeout=3600, interval=30)
    assert info.key == "main/later.whl"
    assert clock.sleeps == [30, 30, 30]
