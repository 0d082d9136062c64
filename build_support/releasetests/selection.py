"""Which release tests a run selects, and which of them run as smoke tests.

The rules are Ray's ``filter_tests`` (``release/ray_release/buildkite/filter.py``),
applied to each test in file order:

1. ``stable: false`` tests are skipped unless ``run_unstable`` (``--run-unstable``).
2. Jailed tests are skipped unless ``run_jailed`` (``--run-jailed``). Ray decides
   "jailed" from its test-state database (a test jailed with an open GitHub issue);
   this harness has no such database, so a test is jailed when its YAML says
   ``jailed: true`` (Ray's own field in 2023) or its name matches a pattern of
   ``[tool.build_support.release_tests] jailed`` (one list, read by every command that
   asks, e.g. the release-test history).
3. With a frequency F: a test whose own frequency is F is selected (as its smoke test
   when ``smoke``, ``--smoke``, and it has one); otherwise a test whose
   ``smoke_test.frequency`` is F is selected *as its smoke test*, with or without
   ``--smoke``.

Beyond Ray: NAME and GLOB arguments pick tests first (a pattern that matches nothing is
an error naming close matches), and a test named exactly is run even when it is
unstable or jailed (asking for it by name is the request; this is how one CI step runs
one test). Without a frequency and without names, ``manual`` tests are left out, and
``smoke`` applies every test's smoke test.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from build_support.errors import UsageError
from build_support.releasetests import loader
from build_support.releasetests.loader import ReleaseTest


@dataclass(frozen=True)
class Selection:
    """The tests to run (smoke tests applied where chosen) and what the rules held out."""

    tests: tuple[ReleaseTest, ...]
    #: names the frequency selected but left out because they are ``stable: false``
    unstable: tuple[str, ...] = ()
    #: names the frequency selected but left out because they are jailed
    jailed: tuple[str, ...] = ()


def is_jailed(test: ReleaseTest, patterns: Sequence[str]) -> bool:
    """``jailed: true`` in the file, or the name matches a configured pattern."""
    return test.jailed or any(fnmatch.fnmatchcase(test.name, p) for p in patterns)


def _by_names(
    tests: Sequence[ReleaseTest], names: Sequence[str]
) -> tuple[list[ReleaseTest], set[str]]:
    """Tests matching any NAME or GLOB, in argument order, and the names given exactly."""
    all_names = [t.name for t in tests]
    chosen: list[ReleaseTest] = []
    exact: set[str] = set()
    for pattern in names:
        hits = [t for t in tests if fnmatch.fnmatchcase(t.name, pattern)]
        if not hits:
            close = difflib.get_close_matches(pattern, all_names, n=5, cutoff=0.4)
            raise UsageError(
                f"no release test matches {pattern!r}",
                hint=(
                    "did you mean: " + ", ".join(close)
                    if close
                    else "tests: " + ", ".join(all_names[:20])
                ),
            )
        if pattern in all_names:
            exact.add(pattern)
        chosen.extend(t for t in hits if t not in chosen)
    return chosen, exact


def choose(
    tests: Sequence[ReleaseTest],
    names: Sequence[str],
    frequency: str | None,
    *,
    smoke: bool = False,
    run_unstable: bool = False,
    run_jailed: bool = False,
    jailed: Sequence[str] = (),
) -> Selection:
    """The :class:`Selection` of ``tests`` by the rules of the module docstring."""
    if names:
        candidates, exact = _by_names(tests, names)
    else:
        candidates = [t for t in tests if frequency is not None or t.frequency != "manual"]
        exact = set()
    chosen: list[ReleaseTest] = []
    held_unstable: list[str] = []
    held_jailed: list[str] = []
    for test in candidates:
        own = test.base_frequency or test.frequency
        if frequency is None or own == frequency:
            as_smoke = smoke
        elif test.smoke_frequency == frequency:
            as_smoke = True
        else:
            continue
        if test.name not in exact:
            if not run_jailed and is_jailed(test, jailed):
                held_jailed.append(test.name)
                continue
            if not run_unstable and not test.stable:
                held_unstable.append(test.name)
                continue
        chosen.append(loader.apply_smoke(test) if as_smoke else test)
    if frequency is not None and not chosen:
        held = len(held_unstable) + len(held_jailed)
        raise UsageError(
            f"no selected release test has frequency {frequency!r}"
            + (f" ({held} unstable or jailed test(s) left out)" if held else ""),
            hint="--run-unstable and --run-jailed include them" if held else None,
        )
    return Selection(tuple(chosen), tuple(held_unstable), tuple(held_jailed))


def select(
    tests: Sequence[ReleaseTest],
    names: Sequence[str],
    frequency: str | None,
    *,
    smoke: bool = False,
    run_unstable: bool = False,
    run_jailed: bool = False,
    jailed: Sequence[str] = (),
) -> list[ReleaseTest]:
    """The tests to run, by Ray's ``filter_tests`` rules (see the module docstring).

    Tests matching any NAME or GLOB (all when none; without names and frequency,
    ``manual`` tests are left out); then unstable and jailed tests are left out unless
    asked for or named exactly; then, with a frequency, a test is kept when its own
    frequency matches (as its smoke test with ``smoke``) or when its smoke test's
    frequency matches (always as its smoke test). Smoke tests are applied in the result.
    """
    return list(
        choose(
            tests,
            names,
            frequency,
            smoke=smoke,
            run_unstable=run_unstable,
            run_jailed=run_jailed,
            jailed=jailed,
        ).tests
    )
