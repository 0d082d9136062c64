"""The session boundary: every failure is one error line with a hint and its documented code.

Issue 10: no stage ends in a traceback (OSError, a pyproject.toml that is not UTF-8, stdout
closed by ``| head``, an unexpected exception), and release-tests reports harness errors in
Ray's scheme, translated once at this boundary.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from build_support import cli
from build_support import stages as stages_mod
from build_support.config import Config
from build_support.errors import FileSystemError, InputError, OutputClosedError, VerificationError
from build_support.releasetests.exitcodes import ExitCode
from build_support.stages import Stage

ROOT = Path(__file__).resolve().parents[2]


def _project(root: Path, tests: int = 1) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        '[tool.build_support]\npython_versions = ["3.12"]\n'
        '[tool.build_support.paths]\nrelease_tests = "release_tests.yaml"\n'
    )
    (root / "work").mkdir(exist_ok=True)
    (root / "release_tests.yaml").write_text(
        "".join(
            textwrap.dedent(
                f"""\
                - name: test_{i:04d}_with_a_long_name_so_that_the_listing_fills_a_pipe
                  team: core
                  frequency: nightly
                  working_dir: work
                  run:
                    timeout: 60
                    script: python -c pass
                """
            )
            for i in range(tests)
        )
    )
    return root


def _raise_oserror(argv: list[str], cfg: Config) -> int:
    del argv
    (cfg.root / "missing" / "out.json").write_text("{}")
    return 0


def _raise_bug(argv: list[str], cfg: Config) -> int:
    del argv, cfg
    table: dict[str, int] = {}
    return table["no such key"]


def _raise_verification(argv: list[str], cfg: Config) -> int:
    del argv, cfg
    raise VerificationError("wheel carries commit a, expected b", hint="rebuild it")


@pytest.fixture
def stages(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    here = __name__
    for name, func in (("oserror", "_raise_oserror"), ("bug", "_raise_bug"),
                       ("verify", "_raise_verification")):  # fmt: skip
        # these run no tools
        monkeypatch.setitem(stages_mod.STAGES, name, Stage(name=name, entry=f"{here}:{func}"))
    project = _project(tmp_path / "proj")
    monkeypatch.chdir(project)
    return project


def test_oserror_is_one_line_with_a_hint(stages: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run_stage("oserror", []) == FileSystemError.exit_code == 19
    err = capsys.readouterr().err
    assert f"error: oserror: No such file or directory: {stages}/missing/out.json" in err
    assert "hint: check the path" in err
    assert "Traceback" not in err


def test_a_bug_is_reported_without_a_traceback(
    stages: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(cli.TRACEBACK_VAR, raising=False)
    assert cli.run_stage("bug", []) == 1
    err = capsys.readouterr().err
    assert "error: bug: unexpected KeyError: 'no such key'" in err
    assert f"{cli.TRACEBACK_VAR}=1" in err
    assert "Traceback" not in err
    monkeypatch.setenv(cli.TRACEBACK_VAR, "1")
    assert cli.run_stage("bug", []) == 1
    assert "Traceback" in capsys.readouterr().err


def test_library_errors_keep_their_class_code(stages: Path) -> None:
    assert cli.run_stage("verify", []) == 13


def test_release_tests_report_harness_errors_in_rays_scheme(
    stages: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad argument is Ray's CLI_ERROR (10), not the harness's 2 (UNSPECIFIED in Ray)."""
    assert cli.run_stage("release-tests", ["--no-such-option"]) == ExitCode.CLI_ERROR
    assert "(exit 10; harness class UsageError)" in capsys.readouterr().err
    (stages / "release_tests.yaml").write_text("- name: a\n  run: {script: x\n")
    assert cli.run_stage("release-tests", ["--list"]) == ExitCode.CONFIG_ERROR
    assert cli.exit_code_for("release-tests", VerificationError("x")) == ExitCode.PREPARE_ERROR
    assert cli.exit_code_for("wheel", VerificationError("x")) == 13


def _run(args: list[str], cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "build_support", *args],
        cwd=cwd,
        env=env,
        text=True,
        check=False,
        timeout=120,
        **{"capture_output": True, **kwargs},
    )


@pytest.mark.subprocess
def test_pyproject_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj")
    (project / "pyproject.toml").write_bytes(
        b'[tool.build_support]\npython_versions = ["3.12"]\n# caf\xe9\n'
    )
    proc = _run(["pythons"], project)
    assert proc.returncode == 2, proc.stderr
    assert f"error: pythons: {project}/pyproject.toml is not valid UTF-8" in proc.stderr
    assert "hint:" in proc.stderr
    assert "Traceback" not in proc.stderr


def _list_into_a_closed_pipe(project: Path) -> subprocess.CompletedProcess[str]:
    """``release-tests --list`` with stdout a pipe whose reader has gone (like ``| head``)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `head` that has already exited
    try:
        return subprocess.run(
            [sys.executable, "-m", "build_support", "release-tests", "--list"],
            cwd=project,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=120,
        )
    finally:
        os.close(write_end)


@pytest.mark.subprocess
def test_list_piped_into_a_closed_reader_is_not_a_traceback(tmp_path: Path) -> None:
    """``nox -s release-tests -- --list | head -1``: the reader goes away early."""
    project = _project(tmp_path / "proj", tests=400)  # ~35 KB of listing
    proc = _list_into_a_closed_pipe(project)
    assert proc.returncode == OutputClosedError.exit_code == 141, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Exception ignored" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: release-tests: the output was cut short"), lines
    assert lines[1].strip().startswith("hint:")
    assert len(lines) == 2


@pytest.mark.subprocess
def test_small_listing_into_a_closed_reader_fails_at_the_final_flush(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj", tests=1)  # fits in stdout's buffer
    proc = _list_into_a_closed_pipe(project)
    assert proc.returncode == 141, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Exception ignored" not in proc.stderr


def test_unicode_error_outside_config_is_an_input_error() -> None:
    err = cli.as_error(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))
    assert isinstance(err, InputError)
    assert err.exit_code == 6
    assert "not valid UTF-8" in str(err)
    assert err.hint


def test_every_nox_session_runs_its_stage_through_stage_run() -> None:
    """nox would flatten the stage's exit code to 1 for a session that calls session.run."""
    import ast

    offenders = []
    functions = [
        n
        for path in (ROOT / "noxfile.py", ROOT / "build_support/nox/sessions.py")
        for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(n, ast.FunctionDef)
    ]
    for func in functions:
        if func.name == "_stage_run":
            continue
        for node in ast.walk(func):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "run"
                and any(
                    isinstance(a, ast.Constant) and a.value == "build_support" for a in node.args
                )
            ):
                offenders.append(func.name)
    assert offenders == []
