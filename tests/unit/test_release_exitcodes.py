"""Ray's exit codes and result statuses: the classification table."""

from __future__ import annotations

import pytest

from build_support.releasetests.exitcodes import (
    CI_RETRY_EXIT,
    ExitCode,
    ResultStatus,
    classify,
    code_class,
    command_code,
    run_exit_code,
    status_for,
)


def test_numbers_are_rays() -> None:
    assert [int(c) for c in ExitCode][:4] == [0, 1, 2, 3]
    assert int(ExitCode.CLI_ERROR) == 10
    assert int(ExitCode.ANYSCALE_ERROR) == 19
    assert int(ExitCode.RAY_WHEELS_TIMEOUT) == 30
    assert int(ExitCode.CLUSTER_WAIT_TIMEOUT) == 33
    assert (ExitCode.COMMAND_ERROR, ExitCode.COMMAND_ALERT) == (40, 41)
    assert (ExitCode.COMMAND_TIMEOUT, ExitCode.PREPARE_ERROR) == (42, 43)


@pytest.mark.parametrize(
    ("code", "status", "klass"),
    [
        (0, ResultStatus.SUCCESS, "success"),
        (1, ResultStatus.RUNTIME_ERROR, "runtime error"),
        (2, ResultStatus.RUNTIME_ERROR, "runtime error"),
        (3, ResultStatus.RUNTIME_ERROR, "runtime error"),
        (9, ResultStatus.RUNTIME_ERROR, "runtime error"),
        (10, ResultStatus.INFRA_ERROR, "infra error"),
        (12, ResultStatus.INFRA_ERROR, "infra error"),
        (19, ResultStatus.INFRA_ERROR, "infra error"),
        (20, ResultStatus.UNKNOWN, "unknown"),
        (30, ResultStatus.INFRA_TIMEOUT, "infra timeout"),
        (33, ResultStatus.INFRA_TIMEOUT, "infra timeout"),
        (39, ResultStatus.INFRA_TIMEOUT, "infra timeout"),
        (40, ResultStatus.ERROR, "command error"),
        (41, ResultStatus.ERROR, "alert"),
        (42, ResultStatus.TIMEOUT, "command timeout"),
        (43, ResultStatus.ERROR, "prepare error"),
        (49, ResultStatus.ERROR, "command error"),
    ],
)
def test_status_and_class_table(code: int, status: ResultStatus, klass: str) -> None:
    assert status_for(code) is status
    assert code_class(code) == klass


@pytest.mark.parametrize(
    ("code", "attempt", "runtime", "status", "retryable"),
    [
        (0, 1, 0.0, ResultStatus.SUCCESS, False),
        (30, 1, 10.0, ResultStatus.TRANSIENT_INFRA_ERROR, True),  # will be retried
        (30, 2, 10.0, ResultStatus.INFRA_TIMEOUT, True),  # retries used up
        (30, 1, 20000.0, ResultStatus.INFRA_TIMEOUT, True),  # past the CI time limit
        (12, 1, 10.0, ResultStatus.INFRA_ERROR, False),  # infra errors are not on the list
        (40, 1, 10.0, ResultStatus.ERROR, False),
        (42, 1, 10.0, ResultStatus.TIMEOUT, False),
    ],
)
def test_classify(
    code: int, attempt: int, runtime: float, status: ResultStatus, retryable: bool
) -> None:
    c = classify(code, attempt=attempt, max_retries=1, runtime=runtime, time_limit=10800)
    assert (c.status, c.retryable, c.exit_code) == (status, retryable, code)


def test_classify_uses_the_configured_list() -> None:
    c = classify(12, retry_codes=(12,), attempt=1, max_retries=2)
    assert c.retryable
    assert c.status is ResultStatus.TRANSIENT_INFRA_ERROR
    assert not classify(30, retry_codes=(12,)).retryable


@pytest.mark.parametrize(
    ("returncode", "prepare", "expected"),
    [
        (0, False, 0),
        (1, False, 40),  # an uncaught exception in the script is a command error
        (2, False, 40),
        (-9, False, 40),  # killed by a signal
        (41, False, 41),  # the script raised an alert
        (12, False, 12),  # the script reported an infra problem
        (31, False, 31),
        (42, False, 42),
        (77, False, 40),
        (1, True, 43),
        (12, True, 12),  # prepare could not fetch an artifact: infra
        (41, True, 43),
        (0, True, 0),
    ],
)
def test_command_code(returncode: int, prepare: bool, expected: int) -> None:
    assert command_code(returncode, prepare=prepare) == expected


@pytest.mark.parametrize(
    ("codes", "runtime", "expected"),
    [
        ([0, 0], 5.0, 0),
        ([], 5.0, 0),
        ([0, 30], 5.0, CI_RETRY_EXIT),
        ([0, 30], 99999.0, 30),
        ([30, 40], 5.0, 40),  # a retry cannot fix the command error
        ([12, 30], 5.0, 12),
        ([41], 5.0, 41),
    ],
)
def test_run_exit_code(codes: list[int], runtime: float, expected: int) -> None:
    assert run_exit_code(codes, runtime=runtime, time_limit=10800) == expected
