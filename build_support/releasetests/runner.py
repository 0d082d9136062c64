"""Run release tests locally: a venv with the stored wheel, process groups, retries.

For each selected test: find the wheel of the test's Python in the artifact store,
check the commit stamped in it against the commit of the test code (stop on mismatch),
install it into a venv cached by the wheel's digest (the Python's lockfile as
constraints), then run ``prepare`` and ``script`` in the test's ``working_dir`` as a new
process group with their timeouts. On timeout the group gets SIGTERM, then SIGKILL
after a grace period; SIGINT/SIGTERM sent to the runner reach the whole group, the
result is still written, and the run ends with 128+N. Outcomes are classified by
:mod:`exitcodes`; retries follow :mod:`retry`. Every attempt's output lands in
``<results>/<run-id>/<test>/attempt-N/``.

This module runs tests; its parts live in :mod:`.sources` (where wheels come from),
:mod:`.environments` (venvs and images), :mod:`.processes` (process groups, timeouts,
signals) and :mod:`.results` (what attempts produced).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from build_support import fsutil, log, manifests, procs, redact
from build_support.containers import engine
from build_support.errors import BuildSupportError, VerificationError
from build_support.releasetests.environments import EnvProvider, VenvInfo
from build_support.releasetests.exitcodes import (
    ExitCode,
    ResultStatus,
    classify,
    code_class,
    code_name,
    command_code,
    harness_exit_code,
)
from build_support.releasetests.loader import ReleaseTest
from build_support.releasetests.processes import (
    Interrupt,
    ProcessOutcome,
    forward_signals,
    run_group,
)
from build_support.releasetests.results import AttemptResult, ReleaseTestResult, write_json
from build_support.releasetests.retry import RetryPolicy, run_with_retries

#: Run types this runner can execute (``command`` runs the script on this machine).
LOCAL_RUN_TYPES = ("command",)


# --------------------------------------------------------------------------- errors


class TestSetupError(BuildSupportError):
    """A test could not be set up; carries the release-test code it is classified as."""

    def __init__(self, message: str, *, code: ExitCode, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


def setup_code(exc: BuildSupportError) -> int:
    """The release-test code of a harness error raised while preparing a test."""
    if isinstance(exc, TestSetupError):
        return int(exc.code)
    return harness_exit_code(exc)


# --------------------------------------------------------------------------- reuse

#: Bump when what a release test's result depends on changes; part of every digest.
REUSE_RECIPE = "release-test-1"
#: Commands naming this variable use the artifact store (see release_tests.yaml).
_STORE_USER = "BUILD_SUPPORT_PYTHON"


def working_files(working_dir: Path) -> dict[str, str]:
    """``{relative path: SHA-256}`` of every file a test's scripts may use."""
    return {
        p.relative_to(working_dir).as_posix(): fsutil.sha256_file(p)
        for p in sorted(working_dir.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


class PassedResults:
    """Passing results in the artifact store, reusable while nothing a test uses changed.

    A test's digest covers its definition after expansion (smoke test applied), the
    files of its working_dir, the wheel's SHA-256, the Python's full version, the image
    ID with ``--in-image``, and, for a test whose commands use the store
    (``$BUILD_SUPPORT_PYTHON``), every stored JAR and wheel of the commit. Only a pass
    on the first attempt is recorded; any other outcome removes the record, so a failed
    or flaky result is never reused. ``reuse`` false still records (``--no-reuse``).
    """

    def __init__(self, store: Any, *, run_id: str, branch: str, sha: str, reuse: bool) -> None:
        from build_support.store import keys

        self.store = store
        self.run_id = run_id
        self.reuse = reuse
        self.prefixes = (keys.commit_prefix(branch, sha), keys.jars_commit_prefix(branch, sha))
        self._stored: dict[str, str] | None = None

    def _store_state(self) -> dict[str, str]:
        if self._stored is None:
            self._stored = {
                o.key: str(o.sha256) for prefix in self.prefixes for o in self.store.list(prefix)
            }
        return self._stored

    def digest(self, test: ReleaseTest, tenv: VenvInfo) -> str:
        import dataclasses

        from build_support import inputcache

        commands = " ".join(filter(None, (test.run.prepare, test.run.script)))
        facts: dict[str, object] = {
            "name": test.name,
            "smoke": test.smoke,
            "run": dataclasses.asdict(test.run),
            "env": dict(test.env),
            "cluster": test.cluster,
            "definition": test.definition,
            "python": tenv.python_version,
            "python_full": tenv.python_full,
            "wheel_sha256": tenv.wheel_sha256,
            "image": tenv.image or "",
            "store": self._store_state() if _STORE_USER in commands else {},
        }
        return inputcache.digest(REUSE_RECIPE, working_files(test.working_dir), facts)

    def lookup(self, digest: str, name: str) -> manifests.ReleaseTestPass | None:
        from build_support import inputcache

        hit = inputcache.lookup(
            self.store, manifests.release_pass_key(digest), manifests.ReleaseTestPass, what=name
        )
        if hit is None or hit.result.exit_code != 0 or hit.result.flaky or hit.test != name:
            return None
        return hit

    def record(self, digest: str, result: ReleaseTestResult) -> None:
        from build_support import inputcache

        key = manifests.release_pass_key(digest)
        if result.exit_code == 0 and not result.flaky and result.reused_from is None:
            inputcache.save(
                self.store,
                key,
                manifests.ReleaseTestPass(
                    digest=digest,
                    test=result.name,
                    run_id=self.run_id,
                    commit=result.commit,
                    result=result.record(),
                ),
            )
        elif result.exit_code != 0 or result.flaky:
            self.store.delete(key)


def _reused(result: ReleaseTestResult, hit: manifests.ReleaseTestPass) -> None:
    """``result`` as the stored pass ``hit``: one passed attempt, marked with its run."""
    final = hit.result.attempts[-1]
    result.reused_from = hit.run_id
    result.wheel, result.commit = hit.result.wheel, hit.result.commit
    result.attempts.append(
        AttemptResult(
            attempt=1,
            exit_code=0,
            status=ResultStatus(final.status),
            retryable=False,
            duration=0.0,
            started_at=final.started_at,
            message=f"reused: passed in run {hit.run_id} ({final.duration_seconds:.1f}s); "
            "nothing it depends on changed",
            directory=final.directory,
            artifacts=list(final.artifacts),
        )
    )


# --------------------------------------------------------------------------- the runner


@dataclass(frozen=True, kw_only=True)
class RunnerOptions:
    results_dir: Path
    default_python: str
    policy: RetryPolicy
    kill_grace: float = 10.0
    extra_env: Mapping[str, str] = field(default_factory=dict)
    #: Variables (``fnmatch`` patterns) of this process's environment a test receives.
    env_allowlist: tuple[str, ...] = ()


#: What every test receives from the runner's environment; anything else it needs it
#: declares in its ``env`` (a value ``${NAME}`` takes NAME from the runner's environment).
DEFAULT_ENV_ALLOWLIST: tuple[str, ...] = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_*", "TERM", "TZ",
    "NO_COLOR", "CI", "SSL_CERT_FILE", "SSL_CERT_DIR", "DOCKER_HOST", "DOCKER_CONFIG",
    "DOCKER_CONTEXT", "XDG_RUNTIME_DIR",
)  # fmt: skip


def allowed_env(
    environ: Mapping[str, str], allowlist: Sequence[str], *, secret: Callable[[str], bool]
) -> dict[str, str]:
    """The variables of ``environ`` that ``allowlist`` names, secret-named ones never."""
    import fnmatch

    return {
        k: v
        for k, v in environ.items()
        if any(fnmatch.fnmatchcase(k, pattern) for pattern in allowlist) and not secret(k)
    }


#: What a test that is handed an S3 artifact store needs to reach it (and nothing else).
STORE_ACCESS_VARS: tuple[str, ...] = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
    "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE",
    "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CA_BUNDLE",
)  # fmt: skip


def store_access_env(url: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables that reach the store at ``url`` (S3 only; a local store needs none)."""
    if not url.startswith("s3://"):
        return {}
    return {k: v for k, v in environ.items() if k in STORE_ACCESS_VARS}


def declared_env(declared: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """A test's ``env`` with ``$NAME``/``${NAME}`` taken from ``environ`` (unset: empty)."""
    return {
        k: re.sub(r"\$(\w+)|\$\{(\w+)\}", lambda m: environ.get(m.group(1) or m.group(2), ""), v)
        for k, v in declared.items()
    }


_SCRIPT_SUFFIXES = (".py", ".sh", ".bash")


def missing_scripts(command: str, working_dir: Path) -> list[str]:
    """Script files named in ``command`` (``*.py``/``*.sh``) that do not exist."""
    try:
        words = shlex.split(command)
    except ValueError:
        return []
    missing = []
    for word in words:
        if "$" in word or word.startswith("-") or not word.endswith(_SCRIPT_SUFFIXES):
            continue
        if not (working_dir / word).is_file():
            missing.append(word)
    return missing


class Runner:
    """Runs tests one after another; keeps every result, whatever happens to later ones."""

    def __init__(
        self,
        envs: EnvProvider,
        options: RunnerOptions,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        passed: PassedResults | None = None,
    ) -> None:
        self.envs = envs
        self.passed = passed
        self.options = options
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 - backoff jitter, not crypto
        self.clock = clock
        self.interrupt = Interrupt()
        self.results: list[ReleaseTestResult] = []
        self.started = clock()
        #: Set when a commit mismatch stopped the run (recorded as that test's result).
        self.stopped_by: VerificationError | None = None

    # -- one attempt ----------------------------------------------------------------
    def _attempt_env(
        self, test: ReleaseTest, tenv: VenvInfo, scratch: Path, n: int
    ) -> dict[str, str]:
        env = allowed_env(
            os.environ,
            (*DEFAULT_ENV_ALLOWLIST, *self.options.env_allowlist),
            secret=redact.is_credential,
        )
        env.update(self.options.extra_env)
        declared = declared_env(test.env, os.environ)
        redact.register_env(declared)
        env.update(declared)
        env.update(
            {
                "PATH": f"{tenv.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                "VIRTUAL_ENV": str(tenv.bin_dir.parent),
                "PYTHONNOUSERSITE": "1",
                "RELEASE_TEST_NAME": test.name,
                "RELEASE_TEST_ATTEMPT": str(n),
                "RELEASE_TEST_SMOKE": "1" if test.smoke else "0",
                "RELEASE_RESULTS_DIR": str(scratch),
                "RELEASE_TEST_TMPDIR": str(scratch),
                "TMPDIR": str(scratch),
                "EXPECTED_COMMIT": tenv.commit,
                "BUILD_SUPPORT_PYTHON": sys.executable,
            }
        )
        return env

    def _run_attempt(
        self, test: ReleaseTest, tenv: VenvInfo, n: int, test_dir: Path
    ) -> AttemptResult:
        scratch = test_dir / "current"
        if scratch.exists():
            shutil.rmtree(scratch)  # the results folder is cleared between tries
        scratch.mkdir(parents=True, mode=0o700)
        scratch.chmod(0o700)  # whatever the umask: nobody else writes into a test's scratch
        attempt_dir = test_dir / f"attempt-{n}"
        if attempt_dir.exists():
            shutil.rmtree(attempt_dir)
        attempt_dir.mkdir(parents=True)
        env = self._attempt_env(test, tenv, scratch, n)
        started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        grace = self.options.kill_grace
        prepare_seconds = 0.0
        message = ""
        code: int
        outcome: ProcessOutcome | None = None
        if test.run.prepare:
            log.info(f"+ (prepare, {test.name}) {test.run.prepare}")
            prep = run_group(
                ["/bin/sh", "-c", test.run.prepare],
                cwd=test.working_dir,
                env=env,
                timeout=test.run.prepare_timeout or test.run.timeout,
                grace=grace,
                stdout=attempt_dir / "prepare.stdout.log",
                stderr=attempt_dir / "prepare.stderr.log",
                interrupt=self.interrupt,
                clock=self.clock,
            )
            prepare_seconds = prep.duration
            if prep.signal is not None:
                outcome = prep
                code = int(ExitCode.UNSPECIFIED)
                message = f"interrupted by {signal.Signals(prep.signal).name} during prepare"
            elif prep.timed_out:
                outcome = prep
                code = int(ExitCode.CLUSTER_WAIT_TIMEOUT)  # Ray: PrepareCommandTimeout
                message = f"prepare timed out after {prep.duration:.1f}s"
            elif prep.returncode != 0:
                outcome = prep
                code = command_code(prep.returncode, prepare=True)
                message = f"prepare exited with {prep.returncode}" + _tail(
                    attempt_dir / "prepare.stderr.log"
                )
        if outcome is None:
            log.info(f"+ ({test.name}) {test.run.script}")
            argv, cleanup = self._script_argv(test, tenv, env, scratch, n)
            outcome = run_group(
                argv,
                cleanup=cleanup,
                cwd=test.working_dir,
                env=env,
                timeout=test.run.timeout,
                grace=grace,
                stdout=attempt_dir / "stdout.log",
                stderr=attempt_dir / "stderr.log",
                interrupt=self.interrupt,
                clock=self.clock,
            )
            if outcome.signal is not None:
                code = int(ExitCode.UNSPECIFIED)
                message = f"interrupted by {signal.Signals(outcome.signal).name}"
            elif outcome.timed_out:
                code = int(ExitCode.COMMAND_TIMEOUT)
                message = f"killed after its timeout of {test.run.timeout:g}s"
            else:
                code = command_code(outcome.returncode)
                if outcome.returncode != 0:
                    message = f"script exited with {outcome.returncode}" + _tail(
                        attempt_dir / "stderr.log"
                    )
        artifacts = self._collect(test, env, scratch, attempt_dir)
        cls = classify(
            code,
            retry_codes=self.options.policy.retry_codes,
            attempt=n,
            max_retries=self.options.policy.max_retries,
            runtime=self.clock() - self.started,
            time_limit=self.options.policy.time_limit,
        )
        return AttemptResult(
            attempt=n,
            exit_code=code,
            status=cls.status,
            retryable=cls.retryable,
            duration=outcome.duration,
            prepare_duration=prepare_seconds if outcome.duration != prepare_seconds else 0.0,
            started_at=started,
            message=message,
            timed_out=outcome.timed_out,
            signal=signal.Signals(outcome.signal).name if outcome.signal else None,
            directory=str(attempt_dir),
            artifacts=artifacts,
        )

    def _script_argv(
        self, test: ReleaseTest, tenv: VenvInfo, env: Mapping[str, str], scratch: Path, n: int
    ) -> tuple[list[str], Callable[[], None] | None]:
        """The script as a local shell command, or as ``docker run`` in the test's image."""
        if tenv.image is None:
            return ["/bin/sh", "-c", test.run.script], None

        docker = engine.docker_client()
        name = f"release-test-{_safe(test.name)}-{n}-{os.getpid()}-{os.urandom(3).hex()}"
        # The scratch folder stays private (0700): as root, it is handed to the image's
        # own (non-root) user; otherwise the container runs as this user.
        user: list[str] = []
        if os.geteuid() == 0 and tenv.image_user is not None:
            os.chown(scratch, *tenv.image_user)
        else:
            user = ["--user", f"{os.getuid()}:{os.getgid()}", "-e", "HOME=/results"]
        fixed = {"RELEASE_RESULTS_DIR": "/results", "RELEASE_TEST_TMPDIR": "/results",
                 "EXPECTED_COMMIT": tenv.commit}  # fmt: skip
        argv = [docker, "run", "--rm", "--init", "--name", name, "--network", "none", *user,
                "-v", f"{test.working_dir}:/release/work:ro", "-v", f"{scratch}:/results",
                "-w", "/release/work"]  # fmt: skip
        for key, value in sorted(fixed.items()):
            argv += ["-e", f"{key}={value}"]
        for key in sorted(k for k in env if k in test.env or k.startswith("RELEASE_")):
            if key not in fixed:  # the value reaches docker through its environment, not argv
                argv += ["-e", key]
        argv += [tenv.image, "sh", "-c", test.run.script]

        def remove() -> None:
            procs.remove_container(docker, name)

        return argv, remove

    def _collect(
        self, test: ReleaseTest, env: Mapping[str, str], scratch: Path, dest: Path
    ) -> list[str]:
        """Copy the scratch folder's files and the test's ``artifact_path`` into ``dest``,
        redacted (:func:`redact.copy_tree`); what was withheld is listed in
        ``withheld.txt`` beside them and on the console."""
        out = dest / "artifacts"
        red = redact.Redactor.from_env({**os.environ, **env}, extra=redact.current().values)
        withheld: list[redact.Withheld] = []
        if test.run.artifact_path:
            expanded = _expand(test.run.artifact_path, env)
            source = Path(expanded)
            if not source.is_absolute():
                source = test.working_dir / source
            if source.exists() and not source.is_relative_to(scratch):
                withheld += redact.copy_tree(source, out / red.text(source.name), red)
        if scratch.is_dir() and any(scratch.iterdir()):
            withheld += redact.copy_tree(scratch, out, red)
        shutil.rmtree(scratch, ignore_errors=True)
        if withheld:
            lines = [f"{w.path}: {w.reason}" for w in withheld]
            fsutil.write_atomic(dest / "withheld.txt", "".join(f"{x}\n" for x in lines))
            log.warn(f"{test.name}: {len(withheld)} file(s) of its results not copied "
                     f"(listed in {dest / 'withheld.txt'}): " + "; ".join(lines[:5]))  # fmt: skip
        if out.is_dir():
            return sorted(str(p.relative_to(dest)) for p in out.rglob("*") if p.is_file())
        return []

    # -- one test, with retries -----------------------------------------------------------
    def run_test(self, test: ReleaseTest, run_dir: Path) -> ReleaseTestResult:
        version = test.python or self.options.default_python
        result = ReleaseTestResult(
            name=test.name,
            group=test.group,
            team=test.team,
            frequency=test.frequency,
            python=version,
            smoke=test.smoke,
        )
        self.results.append(result)
        test_dir = run_dir / _safe(test.name)
        with log.group(f"release test {test.name}" + (" (smoke)" if test.smoke else "")):
            try:
                tenv = self._setup(test, version)
            except BuildSupportError as exc:
                if isinstance(exc, VerificationError):
                    # Every later test would run against the same wrong code: stop.
                    self.stopped_by = exc
                return self._setup_failed(result, exc, test_dir)
            result.wheel, result.commit = tenv.wheel, tenv.commit
            digest = None if self.passed is None else self.passed.digest(test, tenv)
            hit = (
                self.passed.lookup(digest, test.name)
                if self.passed is not None and digest is not None and self.passed.reuse
                else None
            )
            if digest is not None:
                from build_support import inputcache

                inputcache.note(f"release test {test.name}", reused=hit is not None)
            if hit is not None:
                _reused(result, hit)
                log.info(f"{test.name}: {result.final.message} (digest {str(digest)[:12]})")
                write_json(test_dir / "result.json", result.to_json())
                return result

            def attempt(n: int) -> int:
                a = self._run_attempt(test, tenv, n, test_dir)
                result.attempts.append(a)
                write_json(Path(a.directory) / "result.json", _attempt_doc(result, a))
                log.info(
                    f"{test.name} attempt {n}: {a.status} "
                    f"(exit {a.exit_code} {code_name(a.exit_code)}, {a.duration:.1f}s)"
                    f"{' - ' + a.message if a.message else ''}"
                )
                return a.exit_code

            def before_retry(n: int, code: int, wait: float) -> None:
                result.attempts[-1].backoff_seconds = wait
                write_json(
                    Path(result.attempts[-1].directory) / "result.json",
                    _attempt_doc(result, result.attempts[-1]),
                )
                log.warn(
                    f"{test.name}: exit {code} ({code_name(code)}) is retryable; attempt {n} "
                    f"after {wait:.1f}s"
                )

            run_with_retries(
                attempt,
                self.options.policy,
                sleep=self.sleep,
                rng=self.rng,
                before_retry=before_retry,
                stop=lambda: self.interrupt.signum is not None,
            )
            if self.passed is not None and digest is not None:
                self.passed.record(digest, result)
        write_json(test_dir / "result.json", result.to_json())
        return result

    def _setup_failed(
        self, result: ReleaseTestResult, exc: BuildSupportError, test_dir: Path
    ) -> ReleaseTestResult:
        """Record a test that could not be set up as one classified attempt."""
        code = setup_code(exc)
        cls = classify(code, retry_codes=self.options.policy.retry_codes, max_retries=0)
        log.error(f"{result.name}: {code_class(code)} ({code_name(code)}): {exc}")
        failed = AttemptResult(
            attempt=1,
            exit_code=code,
            status=cls.status,
            retryable=cls.retryable,
            duration=0.0,
            started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            message=redact.tail(str(exc)),
            directory=str(test_dir / "attempt-1"),
        )
        result.attempts.append(failed)
        write_json(test_dir / "attempt-1" / "result.json", _attempt_doc(result, failed))
        write_json(test_dir / "result.json", result.to_json())
        return result

    def _setup(self, test: ReleaseTest, version: str) -> VenvInfo:
        if test.run.type not in LOCAL_RUN_TYPES:
            raise TestSetupError(
                f"run type {test.run.type!r} has no runner here",
                code=ExitCode.CLI_ERROR,
                hint="runnable types: " + ", ".join(LOCAL_RUN_TYPES),
            )
        if not test.working_dir.is_dir():
            raise TestSetupError(
                f"working_dir {test.working_dir} does not exist",
                code=ExitCode.CONFIG_ERROR,
                hint=f"fix working_dir of {test.name!r} (relative to the YAML file's folder)",
            )
        for command in filter(None, (test.run.prepare, test.run.script)):
            missing = missing_scripts(command, test.working_dir)
            if missing:
                raise TestSetupError(
                    f"script {', '.join(missing)} named in {command!r} does not exist in "
                    f"{test.working_dir}",
                    code=ExitCode.CONFIG_ERROR,
                    hint=f"fix run.script/prepare of {test.name!r} or add the script",
                )
        return self.envs.prepare(version)

    # -- many tests -------------------------------------------------------------------
    def run(self, tests: Sequence[ReleaseTest], run_dir: Path) -> list[ReleaseTestResult]:
        """Run ``tests`` in order; stops early only on an interrupt or a commit mismatch."""
        run_dir.mkdir(parents=True, exist_ok=True)
        with forward_signals(self.interrupt):
            for test in tests:
                if self.interrupt.signum is not None or self.stopped_by is not None:
                    break
                self.run_test(test, run_dir)
        return self.results

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started


def _attempt_doc(result: ReleaseTestResult, attempt: AttemptResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "python": result.python,
        "smoke": result.smoke,
        "wheel": result.wheel,
        "commit": result.commit,
        **attempt.to_json(),
    }


def _tail(path: Path, lines: int = 5) -> str:
    """The last lines of a log for a message: at most ``redact.TAIL_BYTES``, redacted."""
    text = redact.file_tail(path).strip().splitlines()
    if not text:
        return ""
    return ": " + " | ".join(text[-lines:])


def _expand(value: str, env: Mapping[str, str]) -> str:
    return re.sub(
        r"\$(\w+)|\$\{(\w+)\}",
        lambda m: env.get(m.group(1) or m.group(2), m.group(0)),
        value,
    )


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)
