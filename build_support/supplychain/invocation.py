"""Which stage runs, with which arguments, since when: set at the session boundary.

Stdlib only: :mod:`build_support.cli` and the pipeline enter :func:`running` around each
stage, and a provenance statement reads :func:`current` (the stage, its arguments and
its start time go into ``buildDefinition`` and ``runDetails``).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import os
import platform
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Invocation:
    stage: str
    argv: tuple[str, ...]
    started: dt.datetime


_current: contextvars.ContextVar[Invocation | None] = contextvars.ContextVar(
    "bs_invocation", default=None
)


@contextlib.contextmanager
def running(stage: str, argv: Sequence[str]) -> Iterator[Invocation]:
    """Within this block, :func:`current` names ``stage`` run with ``argv``."""
    inv = Invocation(stage, tuple(argv), dt.datetime.now(dt.timezone.utc))
    token = _current.set(inv)
    try:
        yield inv
    finally:
        _current.reset(token)


def current(default_stage: str = "") -> Invocation:
    """The running stage; outside one (a library call), ``default_stage`` since now."""
    inv = _current.get()
    if inv is None:
        return Invocation(default_stage, (), dt.datetime.now(dt.timezone.utc))
    return inv


def builder(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """``(builder id, invocation id)`` from the CI's variables, else this host.

    Buildkite: the pipeline and the build's URL; GitHub Actions: the workflow ref and the
    run's URL; elsewhere ``urn:build-support:host:<name>`` and the host and process.
    """
    env = os.environ if env is None else env
    if env.get("BUILDKITE_BUILD_URL"):  # https://<buildkite>/<org>/<pipeline>/builds/<n>
        url = env["BUILDKITE_BUILD_URL"]
        job = env.get("BUILDKITE_JOB_ID", "")
        return (url.split("/builds/", 1)[0], f"{url}#{job}" if job else url)
    if env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_SERVER_URL"):
        server, repo = env["GITHUB_SERVER_URL"], env.get("GITHUB_REPOSITORY", "?")
        ref = env.get("GITHUB_WORKFLOW_REF", "")
        run = f"{server}/{repo}/actions/runs/{env.get('GITHUB_RUN_ID', '?')}"
        attempt = env.get("GITHUB_RUN_ATTEMPT", "")
        return (
            f"{server}/{ref}" if ref else f"{server}/{repo}",
            f"{run}/attempts/{attempt}" if attempt else run,
        )
    host = platform.node() or "localhost"
    return (f"urn:build-support:host:{host}", f"urn:build-support:run:{host}:{os.getpid()}")
