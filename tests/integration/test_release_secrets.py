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
    # cgroups a killed run left (a SIGKILLed runner cannot remove its own) are not this test's
    before = set(group.path.parent.glob("build-support-*"))
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
        assert set(group.path.parent.glob("build-support-*")) == before
    finally:
        if pid_alive(pid):
            os.kill(pid, 9)


#: Every credential variable the harness documents (docs/security.md, "Credential
#: variables"), each with a distinct planted value; MINRAY_UPLOAD is named by the config
#: (a name without a secret word in it).
def _planted() -> dict[str, str]:
    from build_support import redact
    from build_support.publish import credentials
    from build_support.publish.settings import PublishSettings

    names = [*credentials.variables(PublishSettings()), *redact.KNOWN_VARIABLES,
             "MINRAY_UPLOAD"]  # fmt: skip
    return {name: f"planted-{i:02d}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
            for i, name in enumerate(dict.fromkeys(names))}  # fmt: skip


FILE_SECRET = "from-a-credential-file-5e7d"

DUMP = """\
import os, pathlib
names = os.environ["NAMES"].split()
values = [os.environ.get(n, "") for n in names]
values.append(pathlib.Path(os.environ["CRED_FILE"]).read_text().strip())
for n, v in zip([*names, "FILE"], values):
    print(n, "=", v)
    os.sys.stderr.write(f"{n} {v}\\n")
out = pathlib.Path(os.environ["RELEASE_RESULTS_DIR"])
(out / "notes.txt").write_text("\\n".join(values) + "\\n")
(out / "deep").mkdir()
(out / "deep" / "report.json").write_text('{"creds": %r}' % values)
(out / "deep" / "dump.bin").write_bytes(b"\\0\\x01" + "|".join(values).encode() + b"\\0")
(out / "deep" / "clean.bin").write_bytes(b"\\0\\x01\\x02 nothing here")
(out / f"file-{values[0]}.log").write_text("named after a secret\\n")
(out / "escape").symlink_to(os.environ["CRED_FILE"])
"""


def test_every_credential_variable_is_hidden_in_logs_reports_and_copied_results(
    minray_wheel: Path,  # noqa: F811 - pytest fixture
    tmp_path: Path,
) -> None:
    """Issue 18, item 5: a release test that prints and saves every credential the harness
    knows (GPG passphrases included) leaves none of them in any file of the results tree,
    the console or the project; text results are copied redacted, a binary one holding a
    secret is listed in withheld.txt, not copied."""
    planted = _planted()
    cred_file = tmp_path / "secrets" / "docker-password.txt"
    cred_file.parent.mkdir()
    cred_file.write_text(FILE_SECRET + "\n")
    project = _cli_project(tmp_path)
    toml = project / "pyproject.toml"
    text = toml.read_text()
    pypi_env = 'password_env = "BUILD_SUPPORT_PYPI_PASSWORD"'
    docker = "[tool.build_support.publish.docker]\n"
    assert pypi_env in text
    assert docker in text
    toml.write_text(text.replace(pypi_env, 'password_env = "MINRAY_UPLOAD"').replace(
        docker, f'{docker}password_file = "{cred_file}"\n'))  # fmt: skip
    declared = "".join(f"    {n}: ${{{n}}}\n" for n in planted)
    proc, run_dir = _run(
        tmp_path,
        minray_wheel,
        "- name: dump\n  env:\n"
        + declared
        + f'    NAMES: "{" ".join(planted)}"\n    CRED_FILE: "{cred_file}"\n'
        + "  run:\n    script: python dump.py\n",
        {"dump.py": DUMP},
        **planted,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    secrets = [*planted.values(), FILE_SECRET]
    attempt = run_dir / "dump" / "attempt-1"
    out = (attempt / "stdout.log").read_text()
    assert "BUILD_SUPPORT_GPG_PASSPHRASE = ***" in out
    assert "GPG_PASSPHRASE = ***" in out
    assert out.count("= ***") == len(planted) + 1  # the test did get every value
    art = attempt / "artifacts"
    assert (art / "notes.txt").read_text() == "***\n" * len(secrets)
    assert (art / "deep" / "report.json").read_text().count("***") == len(secrets)
    assert (art / "deep" / "clean.bin").read_bytes() == b"\0\x01\x02 nothing here"
    assert (art / "file-***.log").is_file()
    assert not (art / "deep" / "dump.bin").exists()
    assert not (art / "escape").exists()
    withheld = (attempt / "withheld.txt").read_text()
    assert "deep/dump.bin: a binary file that contains a secret" in withheld
    assert "escape: a symbolic link (not followed)" in withheld
    assert "withheld.txt" in proc.stderr
    # Every file anywhere in the results tree and the project (and the console): no secret.
    trees = [tmp_path / "results", project]
    checked = 0
    for tree in trees:
        for dirpath, _dirs, names in os.walk(tree):  # symlinks (the shared inputs) not followed
            for name in names:
                path = Path(dirpath) / name
                if path.is_symlink() or not path.is_file():
                    continue
                data = path.read_bytes()
                checked += 1
                for secret in secrets:
                    assert secret.encode() not in data, f"{secret!r} in {path}"
    assert checked > 10
    for secret in secrets:
        assert secret not in proc.stdout + proc.stderr
