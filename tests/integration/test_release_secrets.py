"""Release tests for real (``python -m build_support release-tests``): secrets planted in
the environment never reach the console, the logs or the reports; a test gets only the
allowlist and what it declares; a 50 MB line of stderr leaves small reports; a process
that escaped with ``setsid`` is killed; the scratch folder is private.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from build_support import cgroups
from tests.helpers import pid_alive
from tests.integration.test_release_runner import (  # noqa: F401 - the fixture is used
    FAKE_SHA,
    PY,
    ROOT,
    _cli_project,
    minray_wheel,
)

TOKEN = "tok-4f9c2a7e1b55"
AWS = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzz"
URL_PASS = "p4ss-in-url-99"
UNDECLARED = "undeclared-token-value-1234"


def _run(
    tmp_path: Path, wheel: Path, tests: str, scripts: dict[str, str], **env: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    work = tmp_path / "w"
    work.mkdir()
    for name, body in scripts.items():
        (work / name).write_text(textwrap.dedent(body))
    path = tmp_path / "release_tests.yaml"
    path.write_text(
        "- name: DEFAULTS\n  team: core\n  frequency: nightly\n  working_dir: w\n"
        f'  python: "{PY}"\n  run:\n    timeout: 120\n' + textwrap.dedent(tests)
    )
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "build_support", "release-tests", "--file", str(path),
         "--wheel", str(wheel), "--results-dir", str(results), "--run-id", "r",
         "--max-retries", "0"],
        # Outside a git checkout, where the commit variable is trusted (FAKE_SHA is no HEAD).
        cwd=_cli_project(tmp_path),
        env={**os.environ, "PYTHONPATH": str(ROOT), "BUILD_SUPPORT_COMMIT": FAKE_SHA,
             "BUILD_SUPPORT_BRANCH": "main", **env},
        capture_output=True,
        text=True,
        check=False,
        umask=0,  # a careless mkdir would make world-writable folders
        timeout=600,
    )  # fmt: skip
    return proc, results / "r"


LEAK = """\
import hashlib, os, stat, sys
token = os.environ.get("MY_API_TOKEN", "")
print("token is", token, "aws is", os.environ.get("AWS_SECRET_ACCESS_KEY"))
print("index", os.environ.get("PIP_INDEX_URL"))
print("digest", hashlib.sha256(token.encode()).hexdigest())
print("other", os.environ.get("OTHER_TOKEN"))
print("undeclared", "OTHER_TOKEN" in os.environ, "UNDECLARED_VAR" in os.environ)
print("path", "PATH" in os.environ)
mode = stat.S_IMODE(os.stat(os.environ["RELEASE_RESULTS_DIR"]).st_mode)
print("scratch-mode", oct(mode))
sys.stderr.write("failing with " + token + " " + os.environ["AWS_SECRET_ACCESS_KEY"] + "\\n")
sys.exit(1)
"""


def test_planted_secrets_are_redacted_in_console_logs_and_reports(
    minray_wheel: Path,  # noqa: F811 - pytest fixture
    tmp_path: Path,
) -> None:
    proc, run_dir = _run(
        tmp_path,
        minray_wheel,
        """\
        - name: leak
          env:
            MY_API_TOKEN: ${MY_API_TOKEN}
            AWS_SECRET_ACCESS_KEY: ${AWS_SECRET_ACCESS_KEY}
            PIP_INDEX_URL: ${PIP_INDEX_URL}
          run:
            script: python leak.py
        """,
        {"leak.py": LEAK},
        MY_API_TOKEN=TOKEN,
        AWS_SECRET_ACCESS_KEY=AWS,
        PIP_INDEX_URL="https://ci:p4ss-in-url-99@example.com/simple",
        OTHER_TOKEN=UNDECLARED,
        UNDECLARED_VAR="plain",
    )
    attempt = run_dir / "leak" / "attempt-1"
    files = {
        "console": proc.stdout + proc.stderr,
        "stdout.log": (attempt / "stdout.log").read_text(),
        "stderr.log": (attempt / "stderr.log").read_text(),
        "attempt result.json": (attempt / "result.json").read_text(),
        "result.json": (run_dir / "leak" / "result.json").read_text(),
        "summary.json": (run_dir / "summary.json").read_text(),
        "report.xml": (run_dir / "report.xml").read_text(),
        "report.html": (run_dir / "report.html").read_text(),
    }
    for where, text in files.items():
        for secret in (TOKEN, AWS, URL_PASS, UNDECLARED):
            assert secret not in text, f"{secret!r} in {where}"
    out = files["stdout.log"]
    # The test did receive the declared secrets (only its output is masked) ...
    assert f"digest {hashlib.sha256(TOKEN.encode()).hexdigest()}" in out
    assert "token is *** aws is ***" in out
    assert "index https://***@example.com/simple" in out
    # ... and nothing it did not declare, but the allowlist.
    assert "undeclared False False" in out
    assert "path True" in out
    # Its scratch folder was private, even under umask 0.
    assert "scratch-mode 0o700" in out
    assert "failing with *** ***" in files["stderr.log"]
    doc = json.loads(files["result.json"])
    assert "failing with *** ***" in doc["attempts"][0]["message"]


def test_a_50mb_line_of_stderr_gives_small_reports(
    minray_wheel: Path,  # noqa: F811 - pytest fixture
    tmp_path: Path,
) -> None:
    proc, run_dir = _run(
        tmp_path,
        minray_wheel,
        "- name: loud\n  run:\n    script: python loud.py\n",
        {"loud.py": "import sys\nsys.stderr.write('E' * 50_000_000)\nsys.exit(1)\n"},
    )
    attempt = run_dir / "loud" / "attempt-1"
    assert (attempt / "stderr.log").stat().st_size == 50_000_000  # the full log stays
    reports = ("summary.json", "report.xml", "report.html")
    for path in (attempt / "result.json", run_dir / "loud" / "result.json",
                 *(run_dir / name for name in reports)):  # fmt: skip
        assert path.stat().st_size < 64_000, (path, path.stat().st_size)
    assert len(proc.stdout + proc.stderr) < 64_000
    doc = json.loads((run_dir / "loud" / "result.json").read_text())
    assert "E" * 1000 in doc["attempts"][0]["message"]


#: A release test that leaves a ``sleep`` running in a new session (setsid(2); not
#: setsid(1), which forks and exits when it leads a group, so its pid would be the wrong
#: one): with the marker in its environment, or with a new environment (then only the
#: attempt's cgroup finds it).
ESCAPE = """\
import subprocess, sys
from pathlib import Path
env = None if sys.argv[2] == "marked" else {"PATH": "/bin"}
child = subprocess.Popen(["/bin/sleep", "300"], start_new_session=True, env=env)
Path(sys.argv[1]).write_text(str(child.pid))
"""


@pytest.mark.parametrize("environment", ["marked", "unmarked"])
def test_a_process_that_escaped_with_setsid_is_killed_after_the_test(
    minray_wheel: Path,  # noqa: F811 - pytest fixture
    tmp_path: Path,
    environment: str,
) -> None:
    group, why_not = cgroups.create("build-support-probe")
    assert group is not None, f"this test needs a cgroup2 hierarchy it may write: {why_not}"
    group.path.rmdir()
    pidfile = tmp_path / "escaped.pid"
    proc, run_dir = _run(
        tmp_path,
        minray_wheel,
        f"- name: escape\n  run:\n    script: python escape.py {pidfile} {environment}\n",
        {"escape.py": ESCAPE},
    )
    pid = int(pidfile.read_text())
    try:
        assert not pid_alive(pid), f"the {environment} setsid process outlived its release test"
        assert "outlived the test's process group" in proc.stderr
        doc = json.loads((run_dir / "escape" / "result.json").read_text())
        assert doc["exit_code"] == 0
        # the attempt's cgroup is gone
        assert not list(group.path.parent.glob("build-support-*"))
    finally:
        if pid_alive(pid):
            os.kill(pid, 9)
