"""Exit codes are an interface: the README and docs/security.md tables are the code's.

One source of truth: ``build_support/errors.py`` for the harness codes and
``releasetests.exitcodes.HARNESS_CODES`` for their release-test translation. These tests
read the tables a person reads and fail when they and the code disagree.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from build_support import errors, procs
from build_support.releasetests.exitcodes import HARNESS_CODES, ExitCode, harness_exit_code

ROOT = Path(__file__).resolve().parents[2]


def _section(path: Path, heading: str) -> str:
    text = path.read_text(encoding="utf-8")
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _rows(section: str) -> list[list[str]]:
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip("|"))]
            rows.append(cells)
    return rows[1:]  # without the header


def _codes(cell: str) -> list[int]:
    m = re.fullmatch(r"(\d+)(?:[\u2013-](\d+))?", cell)
    assert m, f"not an exit code or range: {cell!r}"
    first, last = int(m.group(1)), int(m.group(2) or m.group(1))
    return list(range(first, last + 1))


def _error_classes() -> dict[str, type[errors.BuildSupportError]]:
    return {
        name: obj
        for name, obj in vars(errors).items()
        if inspect.isclass(obj)
        and issubclass(obj, errors.BuildSupportError)
        and obj is not errors.BuildSupportError
    }


def readme_table() -> dict[str, int]:
    """``{class name: exit code}`` from README.md's "Failure modes and exit codes"."""
    found: dict[str, int] = {}
    for exit_cell, class_cell, *_ in _rows(
        _section(ROOT / "README.md", "Failure modes and exit codes")
    ):
        codes = _codes(exit_cell)
        names = re.findall(r"`(\w+)`", class_cell)
        assert names, f"README row {exit_cell!r} names no class"
        if len(codes) == 1:
            found.update(dict.fromkeys(names, codes[0]))
        else:
            assert len(codes) == len(names), f"README row {exit_cell!r}: codes and classes differ"
            found.update(zip(names, codes, strict=True))
    return found


def test_readme_failure_table_is_errors_py() -> None:
    documented = readme_table()
    actual = {name: cls.exit_code for name, cls in _error_classes().items()}
    actual["Terminated"] = procs.Terminated.exit_code  # SIGTERM: a BaseException, not an error
    assert documented == actual


def test_every_error_class_has_its_own_code_except_documented_aliases() -> None:
    by_code: dict[int, list[str]] = {}
    for name, cls in _error_classes().items():
        by_code.setdefault(cls.exit_code, []).append(name)
    shared = {code: sorted(names) for code, names in by_code.items() if len(names) > 1}
    # AttestationError is a refusing gate (publish's exit 16 is the interface CI acts on).
    assert shared == {2: ["ConfigError", "UsageError"], 16: ["AttestationError", "GateError"]}


def test_security_md_release_tests_table_is_harness_codes() -> None:
    section = _section(ROOT / "docs" / "security.md", "Exit codes across stages")
    table = [r for r in _rows(section) if len(r) == 3 and r[0].startswith("`") and r[1].isdigit()]
    documented = {}
    for class_cell, harness_cell, ray_cell in table:
        name = class_cell.strip("`")
        cls = _error_classes()[name]
        assert int(harness_cell) == cls.exit_code, name
        documented[name] = int(ray_cell.split()[0])
    expected = {
        cls.__name__: int(code)
        for cls, code in HARNESS_CODES.items()
        if cls is not errors.BuildSupportError
    }
    assert documented == expected


def test_every_harness_error_is_translated_for_release_tests() -> None:
    for name, cls in _error_classes().items():
        assert cls in HARNESS_CODES, f"{name} has no release-test code in HARNESS_CODES"
        code = harness_exit_code(cls.__new__(cls))
        # Never a harness number that Ray reads as something else.
        assert code in {int(c) for c in ExitCode} or code >= 128, (name, code)
    assert harness_exit_code(errors.VerificationError("x")) == ExitCode.PREPARE_ERROR
    assert harness_exit_code(errors.StoreTimeoutError("x")) == ExitCode.RAY_WHEELS_TIMEOUT
