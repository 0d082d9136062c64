"""Ray's release-test exit codes and result statuses: the one source of truth.

Everything that decides what a number means (the runner, the retry policy, the reports,
the process exit status) asks this module; nothing else hard-codes a code range.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from build_support import errors


class ExitCode(enum.IntEnum):
    """Ray's ``ExitCode`` numbers (``release/ray_release/result.py``)."""

    SUCCESS = 0
    UNCAUGHT = 1
    UNSPECIFIED = 2
    UNKNOWN = 3
    # Hard infra errors (never retried by default).
    CLI_ERROR = 10
    CONFIG_ERROR = 11
    SETUP_ERROR = 12
    CLUSTER_RESOURCE_ERROR = 13
    CLUSTER_ENV_BUILD_ERROR = 14
    CLUSTER_STARTUP_ERROR = 15
    LOCAL_ENV_SETUP_ERROR = 16
    REMOTE_ENV_SETUP_ERROR = 17
    FETCH_RESULT_ERROR = 18
    ANYSCALE_ERROR = 19
    # Infra timeouts (retried by default).
    RAY_WHEELS_TIMEOUT = 30
    CLUSTER_ENV_BUILD_TIMEOUT = 31
    CLUSTER_STARTUP_TIMEOUT = 32
    CLUSTER_WAIT_TIMEOUT = 33
    # Command (application) errors.
    COMMAND_ERROR = 40
    COMMAND_ALERT = 41
    COMMAND_TIMEOUT = 42
    PREPARE_ERROR = 43


class ResultStatus(str, enum.Enum):
    """Ray's ``ResultStatus`` values."""

    SUCCESS = "success"
    UNKNOWN = "unknown"
    RUNTIME_ERROR = "runtime_error"
    TRANSIENT_INFRA_ERROR = "transient_infra_error"
    INFRA_ERROR = "infra_error"
    INFRA_TIMEOUT = "infra_timeout"
    ERROR = "error"
    TIMEOUT = "timeout"

    def __str__(self) -> str:  # the value in f-strings and reports, on every Python
        return str(self.value)


#: The exit status CI retries (Buildkite ``retry.automatic: exit_status: 79``).
CI_RETRY_EXIT = 79

#: Retried unless configured otherwise: the infra timeouts.
DEFAULT_RETRY_CODES: tuple[int, ...] = (30, 31, 32, 33)

#: Codes a test's own script or prepare step may return and that keep their meaning.
_PASSTHROUGH = frozenset(
    int(c) for c in ExitCode if 10 <= c <= 19 or 30 <= c <= 39 or 40 <= c <= 43
)


@dataclass(frozen=True)
class CodeRange:
    """One row of :data:`CODE_TABLE`: codes ``low..high`` (inclusive)."""

    low: int
    high: int
    klass: str
    status: ResultStatus


#: What every code means: its class (for people) and its result status (Ray's
#: ``handle_exception``). The first row that holds a code wins; codes in no row are
#: ``unknown``. The one table both :func:`code_class` and :func:`status_for` read.
CODE_TABLE: tuple[CodeRange, ...] = (
    CodeRange(0, 0, "success", ResultStatus.SUCCESS),
    CodeRange(1, 9, "runtime error", ResultStatus.RUNTIME_ERROR),
    CodeRange(10, 19, "infra error", ResultStatus.INFRA_ERROR),
    CodeRange(30, 39, "infra timeout", ResultStatus.INFRA_TIMEOUT),
    CodeRange(ExitCode.COMMAND_ALERT, ExitCode.COMMAND_ALERT, "alert", ResultStatus.ERROR),
    CodeRange(
        ExitCode.COMMAND_TIMEOUT, ExitCode.COMMAND_TIMEOUT, "command timeout", ResultStatus.TIMEOUT
    ),
    CodeRange(ExitCode.PREPARE_ERROR, ExitCode.PREPARE_ERROR, "prepare error", ResultStatus.ERROR),
    CodeRange(40, 49, "command error", ResultStatus.ERROR),
    # Anything higher (a signal's 128+N, CI's 79) failed without a class of its own.
    CodeRange(50, 1 << 31, "unknown", ResultStatus.ERROR),
)


def _row(code: int) -> CodeRange | None:
    return next((r for r in CODE_TABLE if r.low <= code <= r.high), None)


def code_class(code: int) -> str:
    """A short human name for the class of ``code``."""
    row = _row(code)
    return row.klass if row else "unknown"


def code_name(code: int) -> str:
    """``ExitCode`` member name for ``code``, or ``EXIT_<n>`` for other numbers."""
    try:
        return ExitCode(code).name
    except ValueError:
        return f"EXIT_{code}"


def status_for(code: int) -> ResultStatus:
    """The result status of a final exit code (Ray's ``handle_exception`` mapping)."""
    row = _row(code)
    return row.status if row else ResultStatus.UNKNOWN


@dataclass(frozen=True)
class Classification:
    """What one attempt's outcome means."""

    exit_code: int
    status: ResultStatus
    retryable: bool

    @property
    def name(self) -> str:
        return code_name(self.exit_code)

    @property
    def klass(self) -> str:
        return code_class(self.exit_code)


def classify(
    code: int,
    *,
    retry_codes: tuple[int, ...] = DEFAULT_RETRY_CODES,
    attempt: int = 1,
    max_retries: int = 1,
    runtime: float = 0.0,
    time_limit: float = 10800.0,
) -> Classification:
    """Classify one attempt's exit code.

    ``retryable`` means this code is on the explicit retry list; an infra error or
    timeout that still has retries left within ``time_limit`` is reported as
    ``transient_infra_error`` (as Ray does for ``BUILDKITE_RETRY_COUNT < MAX_RETRIES``).
    """
    status = status_for(code)
    retryable = code in retry_codes
    retries_left = attempt - 1 < max_retries
    if (
        status in (ResultStatus.INFRA_ERROR, ResultStatus.INFRA_TIMEOUT)
        and retryable
        and retries_left
        and runtime <= time_limit
    ):
        status = ResultStatus.TRANSIENT_INFRA_ERROR
    return Classification(exit_code=code, status=status, retryable=retryable)


def command_code(returncode: int, *, prepare: bool = False) -> int:
    """The release-test code for a finished script (or ``prepare`` step).

    A script may report an infra problem (10-19, 30-39) or an alert (41) itself: those
    keep their meaning. Any other failure (an exception's 1, a signal's negative
    status, ...) is a command error (40), or a prepare error (43) for ``prepare``.
    """
    if returncode == 0:
        return int(ExitCode.SUCCESS)
    if returncode in _PASSTHROUGH and not (prepare and 40 <= returncode <= 43):
        return returncode
    return int(ExitCode.PREPARE_ERROR if prepare else ExitCode.COMMAND_ERROR)


def run_exit_code(
    final_codes: list[int],
    *,
    retry_codes: tuple[int, ...] = DEFAULT_RETRY_CODES,
    runtime: float,
    time_limit: float,
) -> int:
    """The runner's process exit status from every selected test's final code.

    0 when all passed. A failure that a CI retry cannot fix (not on the retry list)
    wins: the first such code. Otherwise, if only retryable failures remain and the
    run stayed within ``time_limit``, 79 asks CI to retry; past the limit, the code.
    """
    failed = [c for c in final_codes if c != 0]
    if not failed:
        return 0
    hard = [c for c in failed if c not in retry_codes]
    if hard:
        return hard[0]
    if runtime <= time_limit:
        return CI_RETRY_EXIT
    return failed[0]


#: Every harness error class (:mod:`build_support.errors`, exit codes 2-19) as the
#: release-test code it is reported as. The harness's own numbers collide with Ray's
#: (harness 13 = VerificationError, Ray 13 = CLUSTER_RESOURCE_ERROR), so inside
#: release-tests a harness error is translated once, by :func:`harness_exit_code`, at
#: the stage boundary (``build_support.cli.EXIT_SCHEMES``) and when a test's setup
#: fails; the most specific class listed wins. Interrupts keep 128+N (a signal in both
#: schemes).
HARNESS_CODES: Mapping[type[errors.BuildSupportError], int] = {
    errors.UsageError: ExitCode.CLI_ERROR,
    errors.ConfigError: ExitCode.CONFIG_ERROR,
    errors.InputError: ExitCode.CONFIG_ERROR,
    errors.StaleError: ExitCode.CONFIG_ERROR,
    errors.GateError: ExitCode.CONFIG_ERROR,
    errors.AttestationError: ExitCode.CONFIG_ERROR,
    errors.ToolMissingError: ExitCode.LOCAL_ENV_SETUP_ERROR,
    errors.InterpreterNotFoundError: ExitCode.LOCAL_ENV_SETUP_ERROR,
    errors.CommandFailedError: ExitCode.LOCAL_ENV_SETUP_ERROR,
    errors.ResolutionError: ExitCode.LOCAL_ENV_SETUP_ERROR,
    errors.PlatformError: ExitCode.LOCAL_ENV_SETUP_ERROR,
    errors.DockerError: ExitCode.LOCAL_ENV_SETUP_ERROR,
    errors.ProvisionError: ExitCode.LOCAL_ENV_SETUP_ERROR,
    errors.FileSystemError: ExitCode.LOCAL_ENV_SETUP_ERROR,
    errors.StoreError: ExitCode.SETUP_ERROR,
    errors.IntegrityError: ExitCode.SETUP_ERROR,
    errors.ArtifactNotFoundError: ExitCode.SETUP_ERROR,
    errors.StoreTimeoutError: ExitCode.RAY_WHEELS_TIMEOUT,
    errors.PublishError: ExitCode.SETUP_ERROR,
    # The wheel or image is not the test code's commit: the test cannot be prepared.
    errors.VerificationError: ExitCode.PREPARE_ERROR,
    errors.InternalError: ExitCode.UNCAUGHT,
    errors.BuildSupportError: ExitCode.UNCAUGHT,
    errors.InterruptedByUser: 128 + 2,
    errors.OutputClosedError: 128 + 13,
}


def harness_exit_code(exc: errors.BuildSupportError) -> int:
    """The release-test exit code of a harness error (see :data:`HARNESS_CODES`)."""
    for klass in type(exc).__mro__:
        if klass in HARNESS_CODES:
            return int(HARNESS_CODES[klass])
    return int(ExitCode.UNCAUGHT)
