"""What a release test's attempts produced, as kept in memory and written as
``result.json`` (the run's summary is :class:`build_support.manifests.ReleaseTestSummary`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from build_support import fsutil, manifests
from build_support.releasetests.exitcodes import ResultStatus, code_class, code_name


@dataclass
class AttemptResult:
    attempt: int
    exit_code: int
    status: ResultStatus
    retryable: bool
    duration: float
    prepare_duration: float = 0.0
    started_at: str = ""
    message: str = ""
    timed_out: bool = False
    signal: str | None = None
    directory: str = ""
    artifacts: list[str] = field(default_factory=list)
    backoff_seconds: float = 0.0

    def record(self) -> manifests.AttemptRecord:
        return manifests.AttemptRecord(
            attempt=self.attempt,
            exit_code=self.exit_code,
            exit_name=code_name(self.exit_code),
            exit_class=code_class(self.exit_code),
            status=self.status.value,
            retryable=self.retryable,
            duration_seconds=round(self.duration, 3),
            prepare_seconds=round(self.prepare_duration, 3),
            started_at=self.started_at,
            message=self.message,
            timed_out=self.timed_out,
            signal=self.signal,
            directory=self.directory,
            artifacts=tuple(self.artifacts),
            backoff_seconds=round(self.backoff_seconds, 3),
        )

    def to_json(self) -> dict[str, Any]:
        return manifests.plain(self.record())

    @classmethod
    def from_record(cls, r: manifests.AttemptRecord) -> AttemptResult:
        return cls(
            attempt=r.attempt,
            exit_code=r.exit_code,
            status=ResultStatus(r.status),
            retryable=r.retryable,
            duration=r.duration_seconds,
            prepare_duration=r.prepare_seconds,
            started_at=r.started_at,
            message=r.message,
            timed_out=r.timed_out,
            signal=r.signal,
            directory=r.directory,
            artifacts=list(r.artifacts),
            backoff_seconds=r.backoff_seconds,
        )


@dataclass
class ReleaseTestResult:
    name: str
    group: str
    team: str
    frequency: str
    python: str
    smoke: bool
    attempts: list[AttemptResult] = field(default_factory=list)
    wheel: str = ""
    commit: str = ""
    #: The run whose passing result this reuses (see :class:`PassedResults`).
    reused_from: str | None = None

    @property
    def final(self) -> AttemptResult:
        return self.attempts[-1]

    @property
    def exit_code(self) -> int:
        return self.final.exit_code

    @property
    def status(self) -> ResultStatus:
        return self.final.status

    @property
    def duration(self) -> float:
        return sum(a.duration + a.prepare_duration for a in self.attempts)

    @property
    def flaky(self) -> bool:
        return self.exit_code == 0 and len(self.attempts) > 1

    def record(self) -> manifests.TestRecord:
        return manifests.TestRecord(
            name=self.name,
            group=self.group,
            team=self.team,
            frequency=self.frequency,
            python=self.python,
            smoke=self.smoke,
            wheel=self.wheel,
            commit=self.commit,
            exit_code=self.exit_code,
            exit_name=code_name(self.exit_code),
            exit_class=code_class(self.exit_code),
            status=self.status.value,
            flaky=self.flaky,
            duration_seconds=round(self.duration, 3),
            attempts=tuple(a.record() for a in self.attempts),
            reused_from=self.reused_from,
        )

    def to_json(self) -> dict[str, Any]:
        return manifests.plain(self.record())

    @classmethod
    def from_record(cls, r: manifests.TestRecord) -> ReleaseTestResult:
        """The result a record was made from (a stored attempt, a summary's row)."""
        return cls(
            name=r.name,
            group=r.group,
            team=r.team,
            frequency=r.frequency,
            python=r.python,
            smoke=r.smoke,
            attempts=[AttemptResult.from_record(a) for a in r.attempts],
            wheel=r.wheel,
            commit=r.commit,
            reused_from=r.reused_from,
        )


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """``result.json`` style: sorted keys, indent 4, written atomically."""
    fsutil.write_json(path, data, indent=4)
