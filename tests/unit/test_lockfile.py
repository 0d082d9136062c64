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


PIP_TOOLS_STYLE = """\
# requirements_compiled_py3.12.txt: pinned, hashed dependencies for Python 3.12.
# Compiled by build_support.locks with pip-tools 7.4.1 from: base.in
# input-digest: sha256:aaaa
# body-digest: sha256:bbbb
app==1.0 \\
    --hash=sha256:11 \\
    --hash=sha256:22
    # via -r base.in
lib==2.0 ; python_version < "3.13" \\
    --hash=sha256:33
    # via
    #   -r base.in
    #   app
"""

UV_STYLE = """\
# Compiled by build_support.locks with uv 0.9.0 from: base.in
lib==2.0 ; python_version < '3.13' --hash=sha256:33
    # via
    #   -r base.in
    #   app
    #   -r base.in
app==1.0 --hash=sha256:22 --hash=sha256:11
"""


def test_differences_ignore_header_comments_order_and_quoting() -> None:
    assert lockfile.differences(PIP_TOOLS_STYLE, UV_STYLE) == []
    assert lockfile.differences(UV_STYLE, PIP_TOOLS_STYLE) == []


def test_differences_name_versions_hashes_markers_and_packages() -> None:
    moved = UV_STYLE.replace("lib==2.0", "lib==2.1")
    assert lockfile.differences(PIP_TOOLS_STYLE, moved) == [
        '-lib==2.0 ; python_version < "3.13" (1 hash)',
        '+lib==2.1 ; python_version < "3.13" (1 hash)',
    ]
    rehashed = UV_STYLE.replace("sha256:11", "sha256:44")
    assert lockfile.differences(PIP_TOOLS_STYLE, rehashed) == [
        "~app==1.0 (2 hashes): hashes differ: +sha256:44, -sha256:11"
    ]
    remarked = UV_STYLE.replace("'3.13'", "'3.14'")
    assert [d[:12] for d in lockfile.differences(PIP_TOOLS_STYLE, remarked)] == [
        "-lib==2.0 ; ",
        "+lib==2.0 ; ",
    ]
    grown = UV_STYLE + "new-pkg==1.0 --hash=sha256:55\n"
    assert lockfile.differences(PIP_TOOLS_STYLE, grown) == ["+new-pkg==1.0 (1 hash)"]
    assert lockfile.differences(grown, PIP_TOOLS_STYLE) == ["-new-pkg==1.0 (1 hash)"]


def test_differences_compare_canonical_names() -> None:
    a = "Foo_Bar==1.0 --hash=sha256:11\n"
    b = "foo-bar==1.0 --hash=sha256:11\n"
    assert lockfile.differences(a, b) == []
