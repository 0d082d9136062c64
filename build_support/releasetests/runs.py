"""What a release-tests run was a run of: the release_tests file (its SHA-256) and the
selection (``smoke``, ``nightly``, …). Both are recorded in every ``summary.json``; the
publish gate (``[tool.build_support.publish] release_tests_gate``) and ``history`` compare
them. Light on purpose: the config's validation imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from build_support import fsutil
from build_support.errors import ConfigError, InputError
from build_support.releasetests.schema import FREQUENCIES

#: The suffix of a selection that ran the tests' smoke tests.
SMOKE_SUFFIX = "+smoke"


def file_digest(path: Path) -> str:
    """SHA-256 of a release_tests file: which tests a run was a run of."""
    try:
        return fsutil.sha256_file(path)
    except FileNotFoundError:
        raise InputError(
            f"the release_tests file {path} does not exist",
            hint="set [tool.build_support] release_tests, or create the file",
        ) from None


def selection_name(names: Sequence[str], frequency: str | None, *, smoke: bool) -> str:
    """What a run selected: ``tests:a,b`` for named tests; else ``smoke`` (``--smoke``),
    the frequency, ``FREQUENCY+smoke`` (both), or ``all`` (neither)."""
    if names:
        return "tests:" + ",".join(sorted(names))
    if frequency is None:
        return "smoke" if smoke else "all"
    return f"{frequency}{SMOKE_SUFFIX}" if smoke else frequency


def check_selection(value: str, where: str) -> None:
    """``value`` is a selection a full run records (:func:`selection_name`), else ConfigError."""
    if value in ("smoke", "all") or value.removesuffix(SMOKE_SUFFIX) in FREQUENCIES:
        return
    raise ConfigError(
        f"{where} = {value!r} is not a release-tests selection",
        hint="one of: smoke, all, " + ", ".join(FREQUENCIES) + f" (or FREQUENCY{SMOKE_SUFFIX})",
    )
