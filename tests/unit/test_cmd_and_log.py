from __future__ import annotations

import sys
from pathlib import Path

import pytest

from build_support import cmd, log
from build_support.errors import CommandFailedError, ToolMissingError


def test_missing_tool_says_how_to_get_it() -> None:
    with pytest.raises(
        ToolMissingError, match=r"'mvn'.*\n.*apt-get install -y --no-install-recommends maven"
    ):
        cmd.which("mvn", path="/nonexistent")


@pytest.mark.subprocess
def test_run_echoes_and_captures(capsys: pytest.CaptureFixture[str]) -> None:
    proc = cmd.run([sys.executable, "-c", "print('hi there')"], capture=True)
    assert proc.stdout == "hi there\n"
    assert "+ " in capsys.readouterr().err


@pytest.mark.subprocess
def test_failure_carries_code_and_output_tail() -> None:
    with pytest.raises(CommandFailedError) as exc:
        cmd.run(
            [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
            capture=True,
            hint="try again",
        )
    assert exc.value.returncode == 3
    assert "boom" in str(exc.value)
    assert "hint: try again" in str(exc.value)


@pytest.mark.subprocess
def test_timeout_is_a_command_failure() -> None:
    with pytest.raises(CommandFailedError, match="timed out"):
        cmd.run([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.2)


def test_ci_detection() -> None:
    assert log.detect_ci({"BUILDKITE": "true"}) is log.CIKind.BUILDKITE
    assert log.detect_ci({"GITHUB_ACTIONS": "true"}) is log.CIKind.GITHUB
    assert log.detect_ci({"CI": "1"}) is log.CIKind.GENERIC
    assert log.detect_ci({}) is log.CIKind.LOCAL


@pytest.mark.parametrize(
    ("kind", "opening", "closing"),
    [
        (log.CIKind.BUILDKITE, "--- build", None),
        (log.CIKind.GITHUB, "::group::build", "::endgroup::"),
        (log.CIKind.LOCAL, "==> build", None),
    ],
)
def test_fold_groups(
    capsys: pytest.CaptureFixture[str], kind: log.CIKind, opening: str, closing: str | None
) -> None:
    with log.group("build", ci=kind):
        log.info("inside")
    err = capsys.readouterr().err.splitlines()
    assert err[0] == opening
    assert err[1] == "inside"
    if closing:
        assert err[2] == closing


def test_summary_table_and_json(tmp_path: pytest.TempPathFactory) -> None:
    summary = log.Summary("wheel")
    summary.add(artifact="a.whl", size="1 KiB", sha256="ab" * 32, time="1.0s")
    text = summary.render()
    assert "a.whl" in text
    assert "sha256" in text.splitlines()[1]
    assert log.human_size(2048) == "2.0 KiB"


@pytest.mark.parametrize("kind", [log.CIKind.GITHUB, log.CIKind.BUILDKITE])
def test_groups_never_nest_on_ci(capsys: pytest.CaptureFixture[str], kind: log.CIKind) -> None:
    with log.group("pipeline step wheel", ci=kind):
        with log.group("verify a.whl", ci=kind):
            log.info("inner")
        with log.group("store and dist", ci=kind):
            pass
    with log.group("next", ci=kind):
        pass
    err = capsys.readouterr().err.splitlines()
    folds = [line for line in err if line.startswith(("::group::", "::endgroup::", "--- "))]
    if kind is log.CIKind.GITHUB:
        assert folds == [
            "::group::pipeline step wheel",
            "::endgroup::",
            "::group::next",
            "::endgroup::",
        ]
    else:
        assert folds == ["--- pipeline step wheel", "--- next"]
    assert "==> verify a.whl" in err
    assert "==> store and dist" in err


def test_pipeline_step_and_stage_groups_are_never_both_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from build_support import cli, commits, config, pipeline, provision

    def stage(argv: list[str], cfg: config.Config) -> int:
        with log.group(f"stage {argv}"):
            log.info("work")
        return 0

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setattr(cli, "resolve", lambda name: stage)
    monkeypatch.setattr(provision, "ensure_steps", lambda steps: None)
    monkeypatch.setattr(commits, "expected_commit", lambda root: "a" * 40)  # no git here
    cfg = config.from_table({"python_versions": ["3.12"]}, tmp_path)
    assert pipeline.main(["--only", "wheel", "images"], cfg) == 0
    depth, deepest = 0, 0
    for line in capsys.readouterr().err.splitlines():
        if line.startswith("::group::"):
            depth += 1
        elif line == "::endgroup::":
            depth -= 1
        deepest = max(deepest, depth)
    assert (depth, deepest) == (0, 1)


@pytest.mark.subprocess
def test_a_long_quiet_command_prints_progress_with_elapsed_time(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cmd.PROGRESS_ENV, "0.2")
    cmd.run([sys.executable, "-c", "import time; time.sleep(0.9)"], capture=True)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "still running" in ln]
    assert len(lines) >= 3
    assert "time.sleep(0.9)" in lines[0]
    assert lines[0].endswith("s elapsed)")


@pytest.mark.subprocess
def test_a_short_command_prints_no_progress(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cmd.PROGRESS_ENV, "5")
    cmd.run([sys.executable, "-c", "pass"], capture=True)
    assert "still running" not in capsys.readouterr().err


def test_progress_interval_defaults_to_ten_seconds() -> None:
    assert cmd.progress_interval({}) == 10.0
    assert cmd.progress_interval({cmd.PROGRESS_ENV: "0"}) == 0.0
    assert cmd.progress_interval({cmd.PROGRESS_ENV: "nope"}) == 10.0
