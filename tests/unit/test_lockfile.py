"""The one lockfile reader: pins, constraints, the path every stage uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from build_support import lockfile
from build_support.errors import InputError

H1 = "sha256:" + "1" * 64
H2 = "sha256:" + "2" * 64

LOCK = f"""\
# header: this is a comment
--index-url https://example.com/simple
--find-links wheels

Foo.Bar[fast]==1.0 \\
    --hash={H1} \\
    --hash={H2}
    # via
    #   -r base.in
baz==2.0 ; python_version < "3.11" \\
    --hash={H1}
    # via foo-bar
direct @ https://example.com/direct-1.0-py3-none-any.whl#sha256={"3" * 64}
"""


def test_parse_keeps_order_lines_markers_and_hashes() -> None:
    parsed = lockfile.parse(LOCK)
    assert [(p.name, p.version, p.line) for p in parsed] == [
        ("foo-bar", "1.0", 5),
        ("baz", "2.0", 10),
        ("direct", None, 13),
    ]
    assert parsed[0].hashes == {H1, H2}
    assert parsed[0].requirement.extras == {"fast"}
    assert str(parsed[1].requirement.marker) == 'python_version < "3.11"'


def test_pins_and_constraints_are_views_of_the_same_parse() -> None:
    assert lockfile.pins(LOCK) == {"foo-bar": ("1.0", frozenset({H1, H2})), "baz": ("2.0", {H1})}
    assert lockfile.constraints(LOCK) == (
        'Foo.Bar==1.0\nbaz==2.0 ; python_version < "3.11"\n'
        f"direct @ https://example.com/direct-1.0-py3-none-any.whl#sha256={'3' * 64}\n"
    )


def test_a_broken_line_is_named_with_its_number() -> None:
    with pytest.raises(InputError, match=r"lock\.txt:3: 'foo===' is not a requirement"):
        lockfile.parse("# c\nok==1\nfoo===\n", where="lock.txt")


def test_path_and_require(tmp_path: Path) -> None:
    assert lockfile.path(tmp_path, "3.12") == (
        tmp_path / "compiled" / "requirements_compiled_py3.12.txt"
    )
    with pytest.raises(InputError, match=r"nox -s lock-3\.12"):
        lockfile.require(tmp_path, "3.12")
    lock = lockfile.path(tmp_path, "3.12")
    lock.parent.mkdir()
    lock.write_text(f"a==1 \\\n    --hash={H1}\nb==2\n")
    with pytest.raises(InputError, match="no hashes"):
        lockfile.require(tmp_path, "3.12")
    assert lockfile.require(tmp_path, "3.12", hashes=False) == lock
