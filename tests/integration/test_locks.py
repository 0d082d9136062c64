"""The lock stage with the reference backend (pip-tools 7.4.1 in its pinned tool venv),
its agreement with uv, and the real ``requirements/`` against the real index."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from build_support import lockfile
from build_support.config import load
from build_support.errors import ResolutionError, StaleError
from build_support.locks import stage as lock_stage
from build_support.locks.job import LockJob
from build_support.locks.settings import BACKENDS, Backend, LockSettings
from tests.unit.test_locks import job_for, make_project, make_wheel, sha256_of


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    index, req = make_project(tmp_path)
    # A second version of lib and a wheel with a dependency chain, to give the
    # resolvers something to choose between.
    make_wheel(index, "lib", "1.5")
    make_wheel(index, "chain-a", "1.0", ("chain-b>=2",))
    make_wheel(index, "chain-b", "1.0")
    make_wheel(index, "chain-b", "2.0", ("lib<1.5",))
    (req / "chain.in").write_text("chain-a\n")
    return index, req


def test_pip_tools_resolves_under_the_target_interpreter(
    tmp_path: Path, project: tuple[Path, Path]
) -> None:
    index, req = project
    job = job_for(tmp_path, index, req, backend="pip-tools")
    assert lock_stage.lock(job).status == "written"
    text = job.output.read_text()
    assert "pip-tools 7.4.1" in text.splitlines()[1]
    pins = lockfile.pins(text)
    assert {n: v for n, (v, _h) in pins.items()} == {
        "app": "1.0",
        "chain-a": "1.0",
        "chain-b": "2.0",
        "extra-dep": "1.0",
        "lib": "1.0",  # chain-b 2.0 needs lib<1.5
        "tool": "1.0",  # constraints.txt
    }
    assert pins["chain-b"][1] == {sha256_of(index / "chain_b-2.0-py3-none-any.whl")}
    assert str(tmp_path) not in text
    assert "--find-links" not in text
    assert "/opt/wheels" not in text  # this machine's PIP_FIND_LINKS does not leak in
    assert lock_stage.lock(job).status == "skipped"
    first = job.output.read_bytes()
    job.output.unlink()
    lock_stage.lock(replace(job, cache_dir=tmp_path / "cache-2"))
    assert job.output.read_bytes() == first
    assert lock_stage.lock(replace(job, check=True)).status == "checked"


def test_pip_tools_and_uv_agree(tmp_path: Path, project: tuple[Path, Path]) -> None:
    index, req = project
    pip_tools = job_for(tmp_path, index, req, backend="pip-tools", output=tmp_path / "pt.txt")
    uv = job_for(tmp_path, index, req, backend="uv", output=tmp_path / "uv.txt")
    lock_stage.lock(pip_tools)
    lock_stage.lock(uv)
    a = lockfile.pins(pip_tools.output.read_text())
    b = lockfile.pins(uv.output.read_text())
    assert len(a) == 6
    assert a == b  # names, versions and hashes; "via" comments and headers aside


def test_pip_tools_check_fails_on_stale_file(tmp_path: Path, project: tuple[Path, Path]) -> None:
    index, req = project
    job = job_for(tmp_path, index, req, backend="pip-tools")
    lock_stage.lock(job)
    before = job.output.read_bytes()
    (req / "constraints.txt").write_text("tool==2.0\n")
    with pytest.raises(StaleError) as info:
        lock_stage.lock(replace(job, check=True))
    assert "-tool==1.0" in str(info.value)
    assert "+tool==2.0" in str(info.value)
    assert job.output.read_bytes() == before


def test_pip_tools_conflict_names_the_packages(tmp_path: Path, project: tuple[Path, Path]) -> None:
    index, req = project
    (req / "base.in").write_text("app>=1.0\nlib>=1.5\n")
    job = job_for(tmp_path, index, req, backend="pip-tools")
    with pytest.raises(ResolutionError) as info:
        lock_stage.lock(job)
    first_line = str(info.value).splitlines()[0]
    assert "lib" in first_line
    assert "chain-b" in first_line
    assert not job.output.exists()


@pytest.mark.network
@pytest.mark.slow
def test_real_requirements_resolve_to_the_committed_pins(tmp_path: Path) -> None:
    """The real inputs against the real index (uv, Python 3.12), seeded like a CI run."""
    cfg = load()
    settings = cfg.section("lock", LockSettings)
    committed = (
        cfg.path("requirements") / settings.output_dir / settings.output_name.format(python="3.12")
    )
    output = tmp_path / committed.name
    shutil.copy(committed, output)
    job = LockJob(
        python="3.12",
        inputs_dir=cfg.path("requirements"),
        output=output,
        inputs=settings.inputs,
        constraints=settings.constraints,
        backend="uv",
        index_url=settings.index_url or None,
    )
    assert lock_stage.lock(job).status == "written"  # other backend: other digest, re-resolved
    want = {n: v for n, (v, _h) in lockfile.pins(committed.read_text()).items()}
    got = {n: v for n, (v, _h) in lockfile.pins(output.read_text()).items()}
    assert got == want
    assert 40 <= len(got) <= 80
    assert got["cython"] == "3.0.12"


def test_check_verdicts_of_pip_tools_and_uv_agree(
    tmp_path: Path, project: tuple[Path, Path]
) -> None:
    """A pip-tools lockfile is checked by pip-tools and by uv: fresh passes both (though
    uv writes other comments), stale fails both, naming the same moved pin."""
    index, req = project
    job = job_for(tmp_path, index, req, backend="pip-tools")
    lock_stage.lock(job)
    committed = job.output.read_bytes()
    verdicts = {}
    for backend in BACKENDS:
        verdicts[backend] = lock_stage.lock(replace(job, check=True, backend=backend)).status
    assert verdicts == {"pip-tools": "checked", "uv": "checked"}

    (req / "constraints.txt").write_text("tool==2.0\n")
    messages = {}
    for backend in BACKENDS:
        with pytest.raises(StaleError) as info:
            lock_stage.lock(replace(job, check=True, backend=backend))
        lines = [line.strip() for line in str(info.value).splitlines()]
        messages[backend] = [line for line in lines if line[:1] in ("-", "+", "~")]
    assert messages["pip-tools"] == messages["uv"] == ["-tool==1.0 (1 hash)", "+tool==2.0 (1 hash)"]
    assert job.output.read_bytes() == committed


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_reproducible_resolves_twice_to_the_same_bytes(
    tmp_path: Path, project: tuple[Path, Path], backend: Backend
) -> None:
    index, req = project
    job = job_for(tmp_path, index, req, backend=backend)
    result = lock_stage.lock(replace(job, check_reproducible=True))
    assert result.status == "reproducible"
    assert result.pins == 6
    assert not job.output.exists()  # a check: the lockfile is not written
    lock_stage.lock(job)
    committed = job.output.read_bytes()
    assert lock_stage.lock(replace(job, check_reproducible=True)).status == "reproducible"
    assert job.output.read_bytes() == committed  # seeded like a normal run, left alone
