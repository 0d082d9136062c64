"""Release tests for real: a wheel of python/ in a venv, process groups, retries, reports.

The wheel is built once (``python -m build`` on a copy of python/ with a fixed commit
stamped in) and cached under .cache/release-tests/test-wheels by the digest of its
sources; each session makes one venv from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from build_support import manifests, store
from build_support.containers import engine, rootfs
from build_support.errors import ArtifactNotFoundError, VerificationError
from build_support.images.settings import ImagesSettings
from build_support.releasetests import loader, reports
from build_support.releasetests.environments import VenvProvider
from build_support.releasetests.exitcodes import ResultStatus
from build_support.releasetests.results import ReleaseTestResult
from build_support.releasetests.retry import RetryPolicy
from build_support.releasetests.runner import PassedResults, Runner, RunnerOptions
from build_support.releasetests.sources import LocalWheels, StoreWheels
from tests.helpers import build_stamped_wheels, pid_alive, wait_until

ROOT = Path(__file__).resolve().parents[2]
FAKE_SHA = "c0ffee" + "1" * 34
PLATFORM = "manylinux2014_x86_64"
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"
JAR = ROOT / "java" / "runtime" / "target" / "minray-runtime-0.1.0.jar"


def _sources_digest() -> str:
    digest = hashlib.sha256(FAKE_SHA.encode() + TAG.encode())
    src = ROOT / "python"
    for path in sorted([*src.glob("minray/*"), src / "pyproject.toml", src / "setup.py"]):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def minray_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """minray's wheel for this Python, commit FAKE_SHA, tagged for manylinux2014."""
    cache = ROOT / ".cache" / "release-tests" / "test-wheels" / _sources_digest()
    found = sorted(cache.glob(f"minray-*-{TAG}-{TAG}-{PLATFORM}.whl"))
    if found:
        return found[0]
    work = tmp_path_factory.mktemp("minray-build")
    (tagged,) = build_stamped_wheels(
        [ROOT / "python"], work, commit=FAKE_SHA, python=PY, platform_tag=PLATFORM
    )
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{tagged.name}.tmp"
    shutil.copy2(tagged, tmp)
    tmp.replace(cache / tagged.name)
    return cache / tagged.name


@pytest.fixture(scope="session")
def venvs(minray_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> VenvProvider:
    return VenvProvider(
        wheels=LocalWheels([minray_wheel], dist="minray", platform=PLATFORM),
        cache_dir=tmp_path_factory.mktemp("venvs"),
        requirements_dir=ROOT / "requirements",
        expected_commit=FAKE_SHA,
        package="minray",
    )


def _collection(tmp_path: Path, tests: str, scripts: dict[str, str]) -> Path:
    work = tmp_path / "w"
    work.mkdir(exist_ok=True)
    for name, body in scripts.items():
        (work / name).write_text(textwrap.dedent(body))
    path = tmp_path / "release_tests.yaml"
    defaults = f"""\
- name: DEFAULTS
  team: core
  frequency: nightly
  working_dir: w
  python: "{PY}"
  run:
    timeout: 60
"""
    path.write_text(defaults + textwrap.dedent(tests))
    return path


def _runner(venvs: VenvProvider, tmp_path: Path, **policy: float) -> Runner:
    return Runner(
        venvs,
        RunnerOptions(
            results_dir=tmp_path / "results",
            default_python=PY,
            policy=RetryPolicy(
                backoff_min=policy.get("backoff_min", 0.01),
                backoff_max=policy.get("backoff_max", 0.02),
                max_retries=int(policy.get("max_retries", 1)),
            ),
            kill_grace=policy.get("grace", 1.0),
        ),
        sleep=time.sleep,
        rng=random.Random(3),
    )


FLAKY = """\
import os, sys
from pathlib import Path
marker = Path(sys.argv[1])
Path(os.environ["RELEASE_RESULTS_DIR"], "out.txt").write_text(os.environ["RELEASE_TEST_ATTEMPT"])
if not marker.exists():
    marker.write_text("x")
    print("cluster did not come up", file=sys.stderr)
    sys.exit(32)
import minray
print("ok", minray.__commit__)
"""

SPAWN = """\
import os, signal, subprocess, sys, time
from pathlib import Path
ignore = "--ignore-term" in sys.argv
if ignore:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
pre = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); " if ignore else ""
child = subprocess.Popen([sys.executable, "-c", pre + "import time; time.sleep(300)"])
Path(sys.argv[1]).write_text(str(child.pid))
if "--exit" in sys.argv:
    sys.exit(0)
time.sleep(300)
"""


def test_flaky_test_passes_on_retry_and_reports_show_both(
    venvs: VenvProvider, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    path = _collection(
        tmp_path,
        f"- name: flaky\n  run:\n    script: python flaky.py {marker}\n",
        {"flaky.py": FLAKY},
    )
    runner = _runner(venvs, tmp_path)
    run_dir = tmp_path / "results" / "run"
    (result,) = runner.run(loader.load(path).tests, run_dir)
    assert [a.exit_code for a in result.attempts] == [32, 0]
    assert result.attempts[0].status == "transient_infra_error"
    assert result.status == "success"
    assert result.flaky
    assert 0.01 <= result.attempts[0].backoff_seconds <= 0.02
    for n in (1, 2):
        doc = json.loads((run_dir / "flaky" / f"attempt-{n}" / "result.json").read_text())
        assert doc["attempt"] == n
        out = run_dir / "flaky" / f"attempt-{n}" / "artifacts" / "out.txt"
        assert out.read_text() == str(n)  # the results folder was fresh for each try
    text = (run_dir / "flaky" / "attempt-1" / "result.json").read_text()
    assert text.startswith('{\n    "artifacts"')  # sorted keys, indent 4
    paths = reports.write_reports(runner.results, {"run_id": "run"}, run_dir)
    case = ET.parse(paths["junit"]).getroot().find("testsuite/testcase")
    assert case is not None
    assert case.find("flakyFailure") is not None
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["attempts"] == "2"
    summary = json.loads(paths["summary"].read_text())
    assert [a["exit_code"] for a in summary["tests"][0]["attempts"]] == [32, 0]


@pytest.mark.parametrize(("exit_code", "expected"), [(1, 40), (41, 41), (12, 12)])
def test_non_retryable_codes_are_not_retried(
    venvs: VenvProvider, tmp_path: Path, exit_code: int, expected: int
) -> None:
    path = _collection(
        tmp_path,
        f"- name: fails\n  run:\n    script: python -c 'import sys; sys.exit({exit_code})'\n",
        {},
    )
    runner = _runner(venvs, tmp_path, max_retries=3)
    (result,) = runner.run(loader.load(path).tests, tmp_path / "results" / "run")
    assert [a.exit_code for a in result.attempts] == [expected]


@pytest.mark.parametrize("ignore_term", [False, True])
def test_hanging_test_is_killed_with_its_whole_tree(
    venvs: VenvProvider, tmp_path: Path, ignore_term: bool
) -> None:
    pidfile = tmp_path / "grandchild.pid"
    flag = " --ignore-term" if ignore_term else ""
    path = _collection(
        tmp_path,
        f"- name: hang\n  run:\n    timeout: 1\n    script: python spawn.py {pidfile}{flag}\n",
        {"spawn.py": SPAWN},
    )
    runner = _runner(venvs, tmp_path, grace=0.5)
    start = time.monotonic()
    (result,) = runner.run(loader.load(path).tests, tmp_path / "results" / "run")
    elapsed = time.monotonic() - start
    assert result.exit_code == 42
    assert result.status == "timeout"
    assert len(result.attempts) == 1
    assert result.final.timed_out
    assert elapsed < 30
    pid = int(pidfile.read_text())
    assert wait_until(lambda: not pid_alive(pid), 5), f"grandchild {pid} survived"


def test_background_grandchild_does_not_outlive_a_passing_test(
    venvs: VenvProvider, tmp_path: Path
) -> None:
    pidfile = tmp_path / "bg.pid"
    path = _collection(
        tmp_path,
        f"- name: bg\n  run:\n    script: python spawn.py {pidfile} --exit\n",
        {"spawn.py": SPAWN},
    )
    (result,) = _runner(venvs, tmp_path).run(loader.load(path).tests, tmp_path / "r")
    assert result.exit_code == 0
    pid = int(pidfile.read_text())
    assert wait_until(lambda: not pid_alive(pid), 5)


def test_setup_failures_are_classified_and_earlier_results_kept(
    venvs: VenvProvider, tmp_path: Path
) -> None:
    other = "3.11" if PY != "3.11" else "3.10"
    path = _collection(
        tmp_path,
        f"""\
- name: ok
  run:
    script: python -c 'import minray'
- name: no_python
  python: "3.99"
  run:
    script: python -c pass
- name: no_script
  run:
    script: python does_not_exist.py
- name: no_wheel
  python: "{other}"
  run:
    script: python -c pass
- name: prepare_fails
  run:
    prepare: python -c 'import sys; sys.exit(3)'
    script: python -c pass
""",
        {},
    )
    run_dir = tmp_path / "results" / "run"
    results = _runner(venvs, tmp_path).run(loader.load(path).tests, run_dir)
    by_name = {r.name: r for r in results}
    assert by_name["ok"].exit_code == 0
    assert (by_name["no_python"].exit_code, by_name["no_python"].status) == (16, "infra_error")
    assert "3.99" in by_name["no_python"].final.message
    assert by_name["no_script"].exit_code == 11
    assert "does_not_exist.py" in by_name["no_script"].final.message
    assert by_name["no_wheel"].exit_code == 12
    assert "nox -s wheel" in by_name["no_wheel"].final.message
    assert by_name["prepare_fails"].exit_code == 43
    for name in by_name:
        assert (run_dir / name / "result.json").is_file()


def test_commit_mismatch_stops_the_run(minray_wheel: Path, tmp_path: Path) -> None:
    provider = VenvProvider(
        wheels=LocalWheels([minray_wheel], dist="minray", platform=PLATFORM),
        cache_dir=tmp_path / "venvs",
        requirements_dir=ROOT / "requirements",
        expected_commit="d" * 40,
        package="minray",
    )
    path = _collection(
        tmp_path,
        "- name: t\n  run:\n    script: python -c pass\n"
        "- name: later\n  run:\n    script: python -c pass\n",
        {},
    )
    runner = _runner(provider, tmp_path)
    (result,) = runner.run(loader.load(path).tests, tmp_path / "r")
    # Recorded as the test's result (Ray's PREPARE_ERROR), and the run stops there.
    assert isinstance(runner.stopped_by, VerificationError)
    assert result.exit_code == 43
    assert result.status == "error"
    assert FAKE_SHA in result.final.message
    assert "d" * 40 in result.final.message
    doc = json.loads((tmp_path / "r" / "t" / "result.json").read_text())
    assert doc["exit_name"] == "PREPARE_ERROR"
    assert not (tmp_path / "venvs").exists() or not any((tmp_path / "venvs").glob("py*"))


def test_the_venv_is_filled_by_the_pinned_pip_not_its_own(venvs: VenvProvider) -> None:
    """The release-test venv has no pip of its own (the interpreter's, whose version
    varies by host): the pinned pip of a tool venv installed minray into it."""
    info = venvs.prepare(PY)
    assert info.commit == FAKE_SHA
    python = str(info.bin_dir / "python")
    own = subprocess.run([python, "-c", "import pip"], check=False, capture_output=True, text=True)
    assert own.returncode != 0
    assert "No module named 'pip'" in own.stderr
    assert not (info.bin_dir / "pip").exists()


def test_store_wheels(minray_wheel: Path, tmp_path: Path) -> None:
    s = store.open_url(str(tmp_path / "store"))
    wheels = StoreWheels(s, branch="main", sha=FAKE_SHA, dist="minray", platform=PLATFORM)
    with pytest.raises(ArtifactNotFoundError) as info:
        wheels.fetch(PY, tmp_path / "dl")
    assert f"main/{FAKE_SHA}/minray-<version>-{TAG}-{TAG}-{PLATFORM}.whl" in str(info.value)
    assert "nox -s wheel" in str(info.value)
    info_put = s.put(store.keys.wheel_key("main", FAKE_SHA, minray_wheel.name), minray_wheel)
    got, digest = wheels.fetch(PY, tmp_path / "dl")
    assert digest == info_put.sha256
    assert got.read_bytes() == minray_wheel.read_bytes()


def _cli_project(tmp_path: Path) -> Path:
    """This project's config outside any git checkout, so BUILD_SUPPORT_COMMIT=FAKE_SHA is
    trusted (in a checkout the commit must be HEAD); inputs and the venv cache are shared."""
    project = tmp_path / "cli-project"
    if not project.is_dir():
        project.mkdir()
        shutil.copy2(ROOT / "pyproject.toml", project / "pyproject.toml")
        # build_support too: workloads import it from BUILD_SUPPORT_ROOT (fetch_artifact.py).
        for name in ("requirements", "release", ".cache", "build_support"):
            (ROOT / name).mkdir(exist_ok=True)
            (project / name).symlink_to(ROOT / name)
    return project


def _cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BUILD_SUPPORT_COMMIT": FAKE_SHA,
        "BUILD_SUPPORT_BRANCH": "main",
        "RELEASE_TEST_BACKOFF": "0.01,0.02",
        **extra,
    }


def test_sigterm_reaches_the_tree_and_results_are_written(
    minray_wheel: Path, tmp_path: Path
) -> None:
    pidfile = tmp_path / "grandchild.pid"
    path = _collection(
        tmp_path,
        f"- name: hang\n  run:\n    timeout: 600\n    script: python spawn.py {pidfile}\n"
        "- name: never_started\n  run:\n    script: python -c pass\n",
        {"spawn.py": SPAWN},
    )
    results = tmp_path / "results"
    proc = subprocess.Popen(
        [sys.executable, "-m", "build_support", "release-tests", "--file", str(path),
         "--wheel", str(minray_wheel), "--results-dir", str(results), "--run-id", "sig"],
        cwd=_cli_project(tmp_path),
        env=_cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        assert wait_until(pidfile.exists, 300), "the test never started"
        pid = int(pidfile.read_text())
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert wait_until(lambda: not pid_alive(pid), 5)
    doc = json.loads((results / "sig" / "hang" / "result.json").read_text())
    assert doc["attempts"][0]["signal"] == "SIGTERM"
    summary = json.loads((results / "sig" / "summary.json").read_text())
    assert summary["exit_code"] == 143
    assert [t["name"] for t in summary["tests"]] == ["hang"]
    assert (results / "sig" / "report.html").is_file()


def test_cli_unknown_name_and_bad_yaml(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "build_support", "release-tests", *args],
            cwd=_cli_project(tmp_path),
            env=_cli_env(tmp_path),
            capture_output=True,
            text=True,
            check=False,
        )

    proc = run("wheel_comit", "--results-dir", str(tmp_path / "r"))
    assert proc.returncode == 10  # UsageError (harness 2) is Ray's CLI_ERROR here
    assert "did you mean: wheel_commit" in proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("- name: a\n  run: {script: x\n")
    proc = run("--file", str(bad), "--results-dir", str(tmp_path / "r"))
    assert proc.returncode == 11  # InputError (harness 6) is Ray's CONFIG_ERROR here
    assert "malformed YAML" in proc.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_smoke_run_of_minray_release_tests_against_the_store(
    minray_wheel: Path, tmp_path: Path
) -> None:
    """``nox -s release-tests -- --smoke``: every minray test, wheel (and JAR) from the store."""
    s = store.open_url(str(tmp_path / "store"))
    s.put(store.keys.wheel_key("main", FAKE_SHA, minray_wheel.name), minray_wheel)
    if JAR.is_file():
        s.put(f"jars/main/{FAKE_SHA}/multiplatform/{JAR.name}", JAR)
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "build_support", "release-tests", "--smoke", "--python", PY,
         "--results-dir", str(results), "--run-id", "smoke"],
        cwd=_cli_project(tmp_path),
        env=_cli_env(tmp_path, BUILD_SUPPORT_STORE=str(tmp_path / "store")),
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )  # fmt: skip
    summary = json.loads((results / "smoke" / "summary.json").read_text())
    statuses = {t["name"]: t["status"] for t in summary["tests"]}
    assert len(statuses) >= 6
    assert all(t["smoke"] for t in summary["tests"])
    if JAR.is_file():
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert set(statuses.values()) == {"success"}
    else:  # the jars stage has not run: the JVM test is an infra error, the rest pass
        assert statuses.pop("jvm_loads_native") == "infra_error"
        assert set(statuses.values()) == {"success"}
        assert proc.returncode == 12
    for name in ("report.xml", "summary.json", "report.html"):
        assert (results / "smoke" / name).is_file()
    throughput = results / "smoke" / "core_throughput" / "attempt-1" / "artifacts"
    assert (throughput / "throughput.json").is_file()


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_html_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    results: list[ReleaseTestResult] = []
    from build_support.releasetests.results import AttemptResult

    for i, (name, codes) in enumerate(
        [("wheel_commit", [0]), ("flaky", [32, 0]), ("broken", [40]), ("hung", [42])]
    ):
        r = ReleaseTestResult(
            name=name, group="g", team="core", frequency="nightly", python=PY, smoke=True
        )
        for n, code in enumerate(codes, start=1):
            status = {0: "success", 32: "transient_infra_error", 40: "error", 42: "timeout"}[code]
            r.attempts.append(
                AttemptResult(
                    attempt=n,
                    exit_code=code,
                    status=ResultStatus(status),
                    retryable=code == 32,
                    duration=0.5 + i + n,
                    directory=str(tmp_path),
                )
            )
        results.append(r)
    run_dir = ROOT / "results" / "release-tests" / "test-artifacts"
    paths = reports.write_reports(results, {"run_id": "chromium", "exit_code": 40}, run_dir)
    profile = tmp_path / "profile"
    flags = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=2000",
    ]  # fmt: skip
    url = paths["html"].as_uri()
    dom = subprocess.run(
        [*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert dom.count('class="test-row"') == 4
    assert 'data-rendered="true"' in dom
    assert 'data-bars="5"' in dom
    size = dom.split('data-size="', 1)[1].split('"', 1)[0]
    width, height = (int(v) for v in size.split("x"))
    assert width > 0
    assert height > 0
    shot = run_dir / "report.png"
    shot.unlink(missing_ok=True)
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,900", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.is_file()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 5000
    print(f"screenshot of the HTML report: {shot}")


def _python311_image(tmp_path: Path) -> str:
    """A Debian bookworm image (Python 3.11) with minray stamped FAKE_SHA; its tag."""
    engine.ensure_docker()
    defaults = ImagesSettings()
    base = rootfs.ensure_image(
        "x86_64", defaults.local_base_packages, suite=defaults.local_base_suite
    )
    ctx = tmp_path / "ctx"
    # Debian bookworm's python3 is 3.11: build the wheel with a host 3.11.
    build_stamped_wheels(
        [ROOT / "python"], tmp_path, commit=FAKE_SHA, python="3.11", platform_tag=PLATFORM
    )
    shutil.copytree(tmp_path / "wheels", ctx)
    (ctx / "Dockerfile").write_text(
        f"FROM {base}\nLABEL {manifests.REVISION_LABEL}={FAKE_SHA}\nCOPY *.whl /tmp/\n"
        "RUN python3 -m pip install --break-system-packages --no-index /tmp/*.whl "
        "&& ln -sf /usr/bin/python3 /usr/local/bin/python\nUSER 1000\n"
    )
    tag = f"build-support/release-test-image:{os.getpid()}"
    subprocess.run(
        ["/usr/bin/docker", "build", "-q", "-t", tag, str(ctx)], check=True, capture_output=True
    )
    return tag


@pytest.mark.docker
@pytest.mark.slow
def test_in_image_runs_the_script_in_a_container(tmp_path: Path) -> None:
    """``--in-image``: the script runs in a container of the image; commit checked inside."""
    tag = _python311_image(tmp_path)
    pidfile_name = "grandchild.pid"
    try:
        path = _collection(
            tmp_path,
            '- name: in_image\n  python: "3.11"\n  run:\n    script: python check.py\n'
            '- name: hang_in_image\n  python: "3.11"\n  run:\n    timeout: 2\n'
            f"    script: python spawn.py $RELEASE_RESULTS_DIR/{pidfile_name}\n",
            {
                "check.py": """\
                    import os, minray
                    assert minray.__commit__ == os.environ["EXPECTED_COMMIT"]
                    assert os.getuid() == 1000
                    # the scratch folder is private to the image's user, never 0777
                    assert os.stat(os.environ["RELEASE_RESULTS_DIR"]).st_mode & 0o777 == 0o700
                    open(os.environ["RELEASE_RESULTS_DIR"] + "/where.txt", "w").write("container")
                    """,
                "spawn.py": SPAWN,
            },
        )
        results = tmp_path / "results"
        proc = subprocess.run(
            [sys.executable, "-m", "build_support", "release-tests", "--in-image",
             "--image", tag, "--file", str(path), "--results-dir", str(results),
             "--run-id", "img"],
            cwd=_cli_project(tmp_path), env=_cli_env(tmp_path), capture_output=True, text=True,
            check=False, timeout=600,
        )  # fmt: skip
        summary = json.loads((results / "img" / "summary.json").read_text())
        by_name = {t["name"]: t for t in summary["tests"]}
        assert by_name["in_image"]["status"] == "success", proc.stderr[-3000:]
        where = results / "img" / "in_image" / "attempt-1" / "artifacts" / "where.txt"
        assert where.read_text() == "container"
        assert by_name["hang_in_image"]["exit_code"] == 42
        assert proc.returncode == 42
        leftover = subprocess.run(
            ["/usr/bin/docker", "ps", "-q", "--filter", f"ancestor={tag}"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert leftover == "", "a test container outlived its test"
    finally:
        subprocess.run(["/usr/bin/docker", "rmi", "-f", tag], capture_output=True, check=False)


@pytest.mark.docker
@pytest.mark.slow
def test_in_image_runs_a_test_without_python_in_the_python_the_images_exist_for(
    tmp_path: Path,
) -> None:
    """The config's release-test Python is 3.12, the images stage built for 3.11 only (as
    after ``nox -s pipeline``): ``--smoke --in-image`` runs in the 3.11 image, not exit 12."""
    tag = _python311_image(tmp_path)
    project = _cli_project(tmp_path)
    image_id = subprocess.run(
        ["/usr/bin/docker", "image", "inspect", "--format", "{{.Id}}", tag],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    row = manifests.ImageRow(
        name="minray", image_id=image_id, refs=(tag,), built=True, input_digest="0" * 64,
        commit=FAKE_SHA, python="3.11", flavor="cpu", arch="x86_64", base="debian",
    )  # fmt: skip
    manifests.write(
        manifests.images_path(project / "dist"), manifests.ImagesManifest(images=(row,))
    )
    (tmp_path / "w").mkdir()
    path = tmp_path / "release_tests.yaml"
    path.write_text(
        "- name: no_python\n  team: core\n  frequency: nightly\n  working_dir: w\n"
        "  run:\n    timeout: 60\n"
        '    script: python -c "import sys, minray; assert sys.version_info[:2] == (3, 11)"\n'
    )
    results = tmp_path / "results"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "build_support", "release-tests", "--in-image",
             "--file", str(path), "--results-dir", str(results), "--run-id", "py"],
            cwd=project, env=_cli_env(tmp_path), capture_output=True, text=True,
            check=False, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        summary = json.loads((results / "py" / "summary.json").read_text())
        (test,) = summary["tests"]
        assert test["status"] == "success"
        assert "none for 3.12: tests without python: use 3.11" in proc.stderr + proc.stdout
    finally:
        subprocess.run(["/usr/bin/docker", "rmi", "-f", tag], capture_output=True, check=False)


# -- reuse of passing results -----------------------------------------------------------------

COUNTED = """\
import os, sys
from pathlib import Path
count = Path(sys.argv[1])
count.write_text(str(int(count.read_text()) + 1 if count.exists() else 1))
if Path(sys.argv[2]).exists():
    sys.exit(1)
import minray
print("ok", minray.__commit__)
"""


def _reuse_run(
    venvs: VenvProvider, tmp_path: Path, run_id: str, *, reuse: bool = True, retries: int = 0
) -> ReleaseTestResult:
    """One run of the single test in tmp_path's collection, results in a real local store."""
    collection = loader.load(tmp_path / "release_tests.yaml")
    passed = PassedResults(
        store.open_url(str(tmp_path / "store")),
        run_id=run_id,
        branch="main",
        sha=FAKE_SHA,
        reuse=reuse,
    )
    runner = Runner(
        venvs,
        RunnerOptions(
            results_dir=tmp_path / "results",
            default_python=PY,
            policy=RetryPolicy(backoff_min=0.01, backoff_max=0.02, max_retries=retries),
        ),
        sleep=time.sleep,
        rng=random.Random(3),
        passed=passed,
    )
    (result,) = runner.run(collection.tests, tmp_path / "results" / run_id)
    return result


def _counted(tmp_path: Path) -> Path:
    return _collection(
        tmp_path,
        f"""\
- name: counted
  run:
    script: python counted.py {tmp_path / "count"} {tmp_path / "fail"}
""",
        {"counted.py": COUNTED},
    )


def _count(tmp_path: Path) -> int:
    return int((tmp_path / "count").read_text())


def test_a_pass_is_reused_until_its_script_changes(venvs: VenvProvider, tmp_path: Path) -> None:
    _counted(tmp_path)
    first = _reuse_run(venvs, tmp_path, "run-1")
    assert (first.exit_code, first.reused_from, _count(tmp_path)) == (0, None, 1)
    second = _reuse_run(venvs, tmp_path, "run-2")
    assert (second.exit_code, second.reused_from, _count(tmp_path)) == (0, "run-1", 1)
    assert second.record().reused_from == "run-1"
    saved = json.loads((tmp_path / "results" / "run-2" / "counted" / "result.json").read_text())
    assert saved["reused_from"] == "run-1"
    html = reports.html_report([second], {"run_id": "run-2"})
    assert "reused from run run-1" in html
    assert 'name="reused_from" value="run-1"' in reports.junit_xml([second])
    # --no-reuse runs it (and records the new pass).
    forced = _reuse_run(venvs, tmp_path, "run-3", reuse=False)
    assert (forced.reused_from, _count(tmp_path)) == (None, 2)
    # A changed script file is a changed input.
    script = tmp_path / "w" / "counted.py"
    script.write_text(script.read_text() + "# changed\n")
    changed = _reuse_run(venvs, tmp_path, "run-4")
    assert (changed.reused_from, _count(tmp_path)) == (None, 3)


def test_a_failed_run_removes_the_reusable_pass(venvs: VenvProvider, tmp_path: Path) -> None:
    _counted(tmp_path)
    assert _reuse_run(venvs, tmp_path, "run-1").exit_code == 0
    (tmp_path / "fail").write_text("x")  # same inputs, but the test now fails
    failed = _reuse_run(venvs, tmp_path, "run-2", reuse=False)
    assert failed.exit_code != 0
    (tmp_path / "fail").unlink()
    again = _reuse_run(venvs, tmp_path, "run-3")
    assert (again.exit_code, again.reused_from, _count(tmp_path)) == (0, None, 3)


def test_a_flaky_pass_is_never_reused(venvs: VenvProvider, tmp_path: Path) -> None:
    _collection(
        tmp_path,
        f"""\
- name: flaky
  run:
    script: python flaky.py {tmp_path / "marker"}
""",
        {"flaky.py": FLAKY},
    )
    first = _reuse_run(venvs, tmp_path, "run-1", retries=1)
    assert first.exit_code == 0
    assert first.flaky
    second = _reuse_run(venvs, tmp_path, "run-2", retries=1)
    assert second.reused_from is None
    assert len(second.attempts) == 1  # ran again (the marker now exists: passes first time)


def test_a_changed_wheel_is_a_changed_input(
    minray_wheel: Path, venvs: VenvProvider, tmp_path: Path
) -> None:
    _counted(tmp_path)
    assert _reuse_run(venvs, tmp_path, "run-1").exit_code == 0
    other = tmp_path / "other" / minray_wheel.name
    other.parent.mkdir()
    shutil.copyfile(minray_wheel, other)
    with zipfile.ZipFile(other, "a") as zf:
        zf.comment = b"another build of the same sources"  # other bytes, same contents
    other_venvs = VenvProvider(
        wheels=LocalWheels([other], dist="minray", platform=PLATFORM),
        cache_dir=tmp_path / "venvs",
        requirements_dir=ROOT / "requirements",
        expected_commit=FAKE_SHA,
        package="minray",
    )
    result = _reuse_run(other_venvs, tmp_path, "run-2")
    assert (result.exit_code, result.reused_from, _count(tmp_path)) == (0, None, 2)
    # And the first wheel's pass is still reusable for the first wheel.
    back = _reuse_run(venvs, tmp_path, "run-3")
    assert (back.reused_from, _count(tmp_path)) == ("run-1", 2)
