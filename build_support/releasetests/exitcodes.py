"""Ray's release-test exit codes and result statuses: the one source of truth.

Everything that decides what a number means (the runner, the retry policy, the reports,
the process exit status) asks this module; nothing else hard-codes a code range.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


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


#: The exit status CI retries (Buildkite ``retry.automatic: exit_status: 79``).
CI_RETRY_EXIT = 79

#: Retried unless configured otherwise: the infra timeouts.
DEFAULT_RETRY_CODES: tuple[int, ...] = (30, 31, 32, 33)

#: Codes a test's own script or prepare step may return and that keep their meaning.
_PASSTHROUGH = frozenset(
    int(c) for c in ExitCode if 10 <= c <= 19 or 30 <= c <= 39 or 40 <= c <= 43
)


def code_class(code: int) -> str:  # noqa: PLR0911 - a lookup table
    """A short human name for the class of ``code``."""
    if code == 0:
        return "success"
    if 1 <= code <= 9:
        return "runtime error"
    if 10 <= code <= 19:
        return "infra error"
    if 30 <= code <= 39:
        return "infra timeout"
    if code == ExitCode.COMMAND_ALERT:
        return "alert"
    if code == ExitCode.COMMAND_TIMEOUT:
        return "command timeout"
    if code == ExitCode.PREPARE_ERROR:
        return "prepare error"
    if 40 <= code <= 49:
        return "command error"
    return "unknown"


def code_name(code: int) -> str:
    """``ExitCode`` member name for ``code``, or ``EXIT_<n>`` for other numbers."""
    try:
        return ExitCode(code).name
    except ValueError:
        return f"EXIT_{code}"


def status_for(code: int) -> ResultStatus:  # noqa: PLR0911 - a lookup table
    """The result status of a final exit code (Ray's ``handle_exception`` mapping)."""
    if code == 0:
        return ResultStatus.SUCCESS
    if 1 <= code <= 9:
        return ResultStatus.RUNTIME_ERROR
    if 10 <= code <= 19:
        return ResultStatus.INFRA_ERROR
    if 30 <= code <= 39:
        return ResultStatus.INFRA_TIMEOUT
    if code == ExitCode.COMMAND_TIMEOUT:
        return ResultStatus.TIMEOUT
    if code >= 40:
        return ResultStatus.ERROR
    return ResultStatus.UNKNOWN


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
