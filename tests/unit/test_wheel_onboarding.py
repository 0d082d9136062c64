"""Onboarding another project (docs/onboarding.md): the stamp config, the dist-info commit
and the compiled-module smoke check, on tiny real wheels and real project folders."""

from __future__ import annotations

import importlib.machinery
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from build_support import config, wheelfile
from build_support.errors import ConfigError, VerificationError
from build_support.wheels.container import smoke_failed_in_container
from build_support.wheels.plan import ContainerTarget, Job
from build_support.wheels.projects import Project, copy_stamped, load_projects
from build_support.wheels.settings import CommitStamp, WheelSettings
from build_support.wheels.verify import check_code, dist_info_import
from tests.unit.test_wheelfile import SHA_A, SHA_B, make_wheel

RAY_VERSION_PY = (
    '# Replaced with the current commit when building the wheels.\ncommit = "{{RAY_COMMIT_SHA}}"\n'
)


def _ray_layout(root: Path, version_py: str = RAY_VERSION_PY) -> Path:
    pkg = root / "python" / "ray"
    pkg.mkdir(parents=True)
    (root / "python" / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    (pkg / "__init__.py").write_text("")
    (pkg / "_version.py").write_text(version_py)
    return root


RAY_WHEEL = {
    "projects": ["python"],
    "stamp": {"python": {"files": ["ray/_version.py"], "placeholder": "{{RAY_COMMIT_SHA}}"}},
}


# --- config: checked when it loads -----------------------------------------------------------


def test_rays_layout_loads(tmp_path: Path) -> None:
    cfg = config.from_table({"wheel": RAY_WHEEL}, _ray_layout(tmp_path))
    stamp = cfg.section("wheel", WheelSettings).stamp_of("python")
    assert stamp == CommitStamp(files=("ray/_version.py",), placeholder="{{RAY_COMMIT_SHA}}")


@pytest.mark.parametrize(
    ("version_py", "message"),
    [
        (None, r"cannot read .*python/ray/_version\.py"),
        (
            'commit = "{{COMMIT_SHA}}"\n',
            r"must assign the placeholder .*RAY_COMMIT_SHA.*'\{\{COMMIT",
        ),
        ("commit = (\n", "is not valid Python"),
    ],
)
def test_stamp_files_are_checked_at_load(
    tmp_path: Path, version_py: str | None, message: str
) -> None:
    _ray_layout(tmp_path, version_py or "")
    if version_py is None:
        (tmp_path / "python" / "ray" / "_version.py").unlink()
    with pytest.raises(ConfigError, match=message) as info:
        config.from_table({"wheel": RAY_WHEEL}, tmp_path)
    assert "tool.build_support.wheel.stamp.python.files" in info.value.message


@pytest.mark.parametrize(
    ("wheel", "message"),
    [
        ({"stamp": {"pyhton": {}}}, r"names project 'pyhton', which is not in projects"),
        ({"compiled_modules": {"cpp": ["x"]}}, r"names project 'cpp'"),
        ({"stamp": {"python": {"placeholder": "RAY_SHA"}}}, "is not a placeholder"),
        ({"stamp": {"python": {"into": "wheel"}}}, r"one of 'source', 'dist-info'"),
        ({"stamp": {"python": {"into": "dist-info", "files": ["a/_version.py"]}}}, "takes no"),
        ({"stamp": {"python": {"files": ["../x/_version.py"]}}}, "a package's _version.py"),
        ({"stamp": {"python": {"files": ["ray/version.py"]}}}, "a package's _version.py"),
        ({"stamp": {"python": {"filez": []}}}, "did you mean 'files'"),
        ({"compiled_modules": {"python": ["ray/_raylet"]}}, "not a dotted module name"),
    ],
)
def test_bad_onboarding_config_fails_at_load(
    tmp_path: Path, wheel: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        config.from_table({"wheel": {"projects": ["python"], **wheel}}, tmp_path)


def test_no_smoke_statement_by_default_the_bundled_ones_are_config(tmp_path: Path) -> None:
    assert WheelSettings().smoke_of("python") == ""
    assert WheelSettings(projects=("python",)).smoke_of("python") == ""
    bundled = config.load(Path(__file__).resolve().parents[2]).section("wheel", WheelSettings)
    assert bundled.smoke_of("python") == "import minray._core"
    assert WheelSettings(projects=("python",), smoke={"python": "x"}).smoke_of("python") == "x"


# --- the commit in .dist-info ----------------------------------------------------------------


def test_dist_info_commit_is_in_record_and_read_by_every_reader(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, version_py=None)
    with pytest.raises(VerificationError, match=r"no <package>/_version\.py and no"):
        wheelfile.read_commit(wheel)
    member = wheelfile.stamp_dist_info(wheel, SHA_A)
    assert member == "minray-0.1.0.dist-info/COMMIT"
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read(member) == f"{SHA_A}\n".encode()
        record = zf.read("minray-0.1.0.dist-info/RECORD").decode().splitlines()
    assert wheelfile.record_line(member, f"{SHA_A}\n".encode()) in record
    assert wheelfile.read_commit(wheel) == SHA_A  # publish
    assert wheelfile.read_commit(wheel, "minray") == SHA_A  # release tests
    assert wheelfile.check_commit(wheel, SHA_A, dist_info=True) == SHA_A  # the wheel stage
    with pytest.raises(VerificationError, match=r"carries commit a{40}, but the expected"):
        wheelfile.check_commit(wheel, SHA_B, dist_info=True)
    with pytest.raises(VerificationError, match="already has"):
        wheelfile.stamp_dist_info(wheel, SHA_B)


def test_dist_info_commit_not_in_record_fails_closed(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, version_py=None)
    with zipfile.ZipFile(wheel, "a") as zf:
        zf.writestr("minray-0.1.0.dist-info/COMMIT", f"{SHA_A}\n")  # added, RECORD untouched
    with pytest.raises(VerificationError, match=r"does not list .*COMMIT with its hash"):
        wheelfile.read_commit(wheel)


def test_dist_info_mode_requires_the_dist_info_commit(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)  # a _version.py, no .dist-info/COMMIT
    assert wheelfile.check_commit(wheel, SHA_A) == SHA_A
    with pytest.raises(VerificationError, match=r"has no \.dist-info/COMMIT"):
        wheelfile.check_commit(wheel, SHA_A, dist_info=True)


def test_configured_stamp_files_must_be_in_the_wheel(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)  # minray/_version.py
    assert wheelfile.check_commit(wheel, SHA_A, files=["src/minray/_version.py"]) == SHA_A
    with pytest.raises(VerificationError, match=r"does not contain the stamped ray/_version\.py"):
        wheelfile.check_commit(wheel, SHA_A, files=["ray/_version.py"])


def test_any_unstamped_placeholder_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, version_py='commit = "{{RAY_COMMIT_SHA}}"\n')
    with pytest.raises(VerificationError, match=r"still holds the placeholder \{\{RAY_COMMIT"):
        wheelfile.read_commit(wheel)
    with pytest.raises(VerificationError, match=r"still holds the placeholder \{\{RAY_COMMIT"):
        wheelfile.check_commit(wheel, SHA_A)


def test_top_level_names(tmp_path: Path) -> None:
    wheel = tmp_path / "x-1-cp312-cp312-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name in (
            "pkg/__init__.py",
            "pkg/sub/__init__.py",
            "fast.cpython-312-x86_64-linux-gnu.so",
            "mod.py",
            "x.libs/libz.so",
            "x-1.dist-info/RECORD",
        ):
            zf.writestr(name, "")
    assert wheelfile.top_level_names(wheel) == ["pkg", "fast", "mod"]


# --- stamping the sources with the configured placeholder ----------------------------------


@pytest.mark.subprocess
def test_copy_stamped_uses_the_configured_files_and_placeholder(
    git_repo: Path, tmp_path: Path
) -> None:
    _ray_layout(git_repo)
    (git_repo / "python" / "other" / "_version.py").parent.mkdir()
    (git_repo / "python" / "other" / "_version.py").write_text('commit = "{{RAY_COMMIT_SHA}}"\n')
    cfg = config.from_table({"wheel": RAY_WHEEL}, git_repo)
    (project,) = load_projects(cfg.root, cfg.section("wheel", WheelSettings))
    assert copy_stamped(project, tmp_path / "a", SHA_A) == ["ray/_version.py"]
    assert f'commit = "{SHA_A}"' in (tmp_path / "a/ray/_version.py").read_text()
    assert "{{RAY_COMMIT_SHA}}" in (tmp_path / "a/other/_version.py").read_text()
    assert "{{RAY_COMMIT_SHA}}" in (git_repo / "python/ray/_version.py").read_text()


@pytest.mark.subprocess
def test_copy_stamped_in_dist_info_mode_needs_no_version_file(
    git_repo: Path, tmp_path: Path
) -> None:
    _ray_layout(git_repo)
    (git_repo / "python" / "ray" / "_version.py").unlink()
    table = {"projects": ["python"], "stamp": {"python": {"into": "dist-info"}}}
    cfg = config.from_table({"wheel": table}, git_repo)
    (project,) = load_projects(cfg.root, cfg.section("wheel", WheelSettings))
    assert copy_stamped(project, tmp_path / "a", SHA_A) == []
    # Without it, the stage refuses before building and says how to choose dist-info.
    cfg = config.from_table({"wheel": {"projects": ["python"]}}, git_repo)
    (project,) = load_projects(cfg.root, cfg.section("wheel", WheelSettings))
    with pytest.raises(VerificationError, match='into = "dist-info"'):
        copy_stamped(project, tmp_path / "b", SHA_A)


# --- the compiled-module smoke check ---------------------------------------------------------


def _extension_module() -> str:
    """A standard-library module this interpreter loads from an extension module."""
    for name in ("_json", "_csv", "_ctypes", "_decimal", "_struct", "math", "select"):
        spec = importlib.util.find_spec(name)
        origin = (spec and spec.origin) or ""
        if origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            return name
    pytest.skip("this interpreter has no standard-library extension module")


def _fake_package(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == "onbpkg"]:
        monkeypatch.delitem(sys.modules, name)  # restored after the test
    pkg = root / "onbpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "_version.py").write_text(f'commit = "{SHA_A}"\n')
    (pkg / "_speedups.py").write_text("def total(v):\n    return sum(v)\n")


def test_smoke_check_accepts_extension_modules_and_refuses_a_pure_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_package(tmp_path, monkeypatch)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["-c", "onbpkg"])
    ext = _extension_module()
    exec(check_code("", compiled=[ext]), {})
    report = json.loads(capsys.readouterr().out)
    assert report["commit"] == SHA_A
    assert report["compiled"][ext].endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    with pytest.raises(SystemExit, match=r"onbpkg\._speedups is not compiled: .*_speedups\.py"):
        exec(check_code("", compiled=[ext, "onbpkg._speedups"]), {})
    for name in [m for m in sys.modules if m.split(".")[0] == "onbpkg"]:
        del sys.modules[name]


@pytest.mark.subprocess
def test_the_container_driver_smoke_imports_a_wheel_stamped_on_the_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``dist-info`` project built in a container: the host stamps the repaired wheel with
    the host builds' function, then the driver's ``--smoke-only`` run (here for real, with
    this Python, offline) installs it and reads the commit from the installed metadata. A
    wheel carrying another commit fails the stage's check with exit 13."""
    from build_support.wheels import driver
    from tests.unit.test_locks import make_wheel as make_pure_wheel

    wheel = make_pure_wheel(tmp_path / "out", "onbdist", "1.0")
    member = wheelfile.stamp_dist_info(wheel, SHA_A)
    assert member == "onbdist-1.0.dist-info/COMMIT"
    package, dist = dist_info_import(wheel)
    assert (package, dist) == ("onbdist", "onbdist")
    (tmp_path / "house").mkdir()
    argv = ["--out", str(tmp_path / "out"), "--wheelhouse", str(tmp_path / "house")]
    argv += ["--smoke-only", str(wheel), "--package", package]
    argv += ["--check-code", check_code("", dist=dist)]
    assert driver.main(argv) == 0
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("BS-RESULT ")]
    report = json.loads(line[len("BS-RESULT ") :])
    assert report["wheel"] == wheel.name
    assert report["import"]["commit"] == SHA_A
    assert report["import"]["file"].endswith("/site-packages/onbdist/__init__.py")

    project = Project(
        rel="plain", path=tmp_path, files=(), hashes={}, requires=(), smoke="",
        stamp=CommitStamp(into="dist-info"),
    )  # fmt: skip
    assert project.check_commit(wheel, SHA_A) == SHA_A
    with pytest.raises(VerificationError, match=r"COMMIT carries commit a{40}, but") as info:
        project.check_commit(wheel, SHA_B)
    assert info.value.exit_code == 13
    unstamped = make_pure_wheel(tmp_path / "bare", "onbdist", "1.0")
    with pytest.raises(VerificationError, match=r"no <package>/_version\.py and no") as info:
        project.check_commit(unstamped, SHA_A)
    assert info.value.exit_code == 13


def test_the_container_driver_refuses_incomplete_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from build_support.wheels import driver

    base = ["--out", str(tmp_path), "--wheelhouse", str(tmp_path)]
    for argv, message in [
        ([*base, "--smoke-only", "x.whl", "--check-code", "pass"], "needs --package"),
        ([*base, "--src", "/bs/src", "--plat", "p"], "needs --src, --plat and --check-code"),
    ]:
        with pytest.raises(SystemExit) as info:
            driver.main(argv)
        assert info.value.code == 2
        assert message in capsys.readouterr().err


@pytest.mark.subprocess
def test_a_pure_fallback_in_a_container_build_is_exit_13(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The in-container driver's smoke import, run for real in a fresh venv, and the
    stage's reading of its output."""
    from build_support.errors import CommandFailedError
    from build_support.wheels import driver

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python3.*/site-packages")
    _fake_package(site, monkeypatch)
    python = str(venv / "bin" / "python")
    ok = driver.smoke_import(python, check_code(""), "onbpkg", env={}, cwd="/")
    assert json.loads(ok)["commit"] == SHA_A
    code = check_code("", compiled=["onbpkg._speedups"])
    with pytest.raises(SystemExit) as info:
        driver.smoke_import(python, code, "onbpkg", env={}, cwd=str(tmp_path))
    assert info.value.code == driver.SMOKE_FAILED_CODE
    output = capsys.readouterr().out
    assert "onbpkg._speedups is not compiled" in output

    project = Project(
        rel="python", path=tmp_path, files=(), hashes={}, requires=(), smoke="",
        compiled=("onbpkg._speedups",),
    )  # fmt: skip
    target = ContainerTarget("manylinux2014_aarch64", "aarch64", "img")
    job = Job(project, target, "3.12", "3.12.1", "/usr/bin/python3", "d" * 64)
    failed = CommandFailedError("docker run failed", returncode=66, output=output)
    with pytest.raises(VerificationError, match=r"(?s)does not import .* in img:.*not compiled"):
        smoke_failed_in_container(job, "img", failed)
    other = CommandFailedError("docker run failed", returncode=1, output="gcc: error")
    smoke_failed_in_container(job, "img", other)  # not a smoke failure: unchanged


@pytest.mark.subprocess
def test_one_commit_program_reads_where_the_wheel_carries_the_commit(tmp_path: Path) -> None:
    """F1: the program every stage runs to print the installed commit (wheel verify,
    release-test venvs and images, the images smoke run), run for real against installed
    code. It reads where :func:`wheelfile.read_commit` reads in the wheel: ``commit`` or
    ``__commit__`` of ``<package>._version`` (a stale ``__commit__`` on the package is not
    the stamp), else the distribution's ``.dist-info/COMMIT``; neither prints nothing."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python3.*/site-packages")
    wheel = tmp_path / "plainc-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("plainc.py", "ANSWER = 42\n")
        zf.writestr("plainc-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: plainc\n")
        zf.writestr("plainc-1.0.dist-info/top_level.txt", "plainc\n")
        zf.writestr("plainc-1.0.dist-info/RECORD", "")
    wheelfile.stamp_dist_info(wheel, SHA_A)
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)  # installing a pure wheel: its files into site-packages
    # _version assigns only __commit__ (the release-test venv once read only .commit)
    (site / "dunder" / "sub").mkdir(parents=True)
    (site / "dunder" / "__init__.py").write_text("")
    (site / "dunder" / "sub" / "__init__.py").write_text("")
    (site / "dunder" / "_version.py").write_text(f'__commit__ = "{SHA_B}"\n')
    # the package's own __commit__ is stale; the stamp is in _version (the images smoke
    # run once read the package's __commit__ first)
    (site / "stale").mkdir()
    (site / "stale" / "__init__.py").write_text(f'__commit__ = "{SHA_A}"\n')
    (site / "stale" / "_version.py").write_text(f'commit = "{SHA_B}"\n')
    python = str(venv / "bin" / "python")

    def run(module: str, dist: str | None = None) -> str:
        program = wheelfile.commit_program(module, dist)
        assert "'" not in program  # it goes inside sh -c '...'
        proc = subprocess.run(
            ["sh", "-c", f"{python} -c '{program}'"], capture_output=True, text=True, check=True
        )
        return proc.stdout

    assert run("plainc") == f"{SHA_A}\n"
    assert run("plainc", "plainc") == f"{SHA_A}\n"
    assert run("dunder.sub") == f"{SHA_B}\n"
    assert run("stale") == f"{SHA_B}\n"
    # the wheel stage's smoke import reads the same way
    (out,) = [
        json.loads(line)
        for line in subprocess.run(
            [python, "-I", "-c", check_code(""), "stale"],
            capture_output=True, text=True, check=True, cwd=tmp_path,
        ).stdout.splitlines()
    ]  # fmt: skip
    assert out["commit"] == SHA_B
    (site / "plainc-1.0.dist-info" / "COMMIT").unlink()
    assert run("plainc") == "\n"  # neither: every caller's comparison fails
