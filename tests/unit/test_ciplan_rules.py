"""Ray-format rules files: every construct, errors with file:line, shadowing, goldens."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from build_support.ciplan import rules
from build_support.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
WHERE = Path("ci/t.rules.txt")

EVERY_CONSTRUCT = """\
# a full-line comment
! python java   # an inline comment after a declaration
! doc
! python

python/minray/
python/*.pyx
setup.cfg
@ python
@ java
;

docs/
*.md
@ doc
;

# a skip: a rule without tags
tests/
;

*
@ python java
"""


def parse(text: str) -> rules.RulesFile:
    return rules.parse(text, WHERE)


def test_every_construct() -> None:
    rf = parse(EVERY_CONSTRUCT)
    assert rf.declared == {"python", "java", "doc"}
    assert rf.declared_at["python"] == 2
    assert rf.declared_at["doc"] == 3
    assert [r.line for r in rf.rules] == [6, 13, 19, 22]
    first = rf.rules[0]
    assert [(p.text, p.kind, p.line) for p in first.patterns] == [
        ("python/minray", "dir", 6),
        ("python/*.pyx", "glob", 7),
        ("setup.cfg", "file", 8),
    ]
    assert first.tags == ("python", "java")  # two '@' lines add up
    assert rf.rules[2].skip
    assert rf.rules[3].tags == ("python", "java")  # the last rule ends at the end of file


@pytest.mark.parametrize(
    ("path", "line", "tags"),
    [
        ("python/minray", 6, ("python", "java")),  # the directory itself
        ("python/minray/core.py", 6, ("python", "java")),
        ("python/minray2/core.py", 22, ("python", "java")),  # not under python/minray/
        ("python/deep/er/x.pyx", 6, ("python", "java")),  # '*' crosses '/'
        ("setup.cfg", 6, ("python", "java")),
        ("sub/setup.cfg", 22, ("python", "java")),  # a plain file is exact
        ("docs/index.rst", 13, ("doc",)),
        ("python/minray/README.md", 6, ("python", "java")),  # the first match wins
        ("README.md", 13, ("doc",)),
        ("tests/unit/test_x.py", 19, ()),
        ("LICENSE", 22, ("python", "java")),
    ],
)
def test_first_match_wins(path: str, line: int, tags: tuple[str, ...]) -> None:
    rf = parse(EVERY_CONSTRUCT)
    m = rf.match(path)
    assert m.rule is not None
    assert (m.rule.line, m.tags) == (line, tags)
    assert rf.match_slow(path) == m


def test_no_match_without_catch_all() -> None:
    rf = parse("! a\nsrc/\n@ a\n;\n")
    assert rf.match("other/file").rule is None


def test_one_regex_agrees_with_the_reference_matcher() -> None:
    rf = parse(EVERY_CONSTRUCT.replace("*\n@ python java\n", "lib/*/x?.[ch]\n@ java\n"))
    rng = random.Random(7)
    parts = ["python", "minray", "docs", "lib", "a", "x1.c", "x2.h", "setup.cfg", "README.md"]
    for _ in range(2000):
        path = "/".join(rng.choice(parts) for _ in range(rng.randint(1, 4)))
        assert rf.match(path) == rf.match_slow(path), path


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("! a\nsrc/\n@ b\n;\n", 3, "tag 'b' is not declared"),
        ("! a\n@ a\n", 2, "tags without a path pattern"),
        ("! a\nsrc/\n@ a\nlib/\n", 4, "after the rule's tags"),
        ("! a\nsrc/ ;\n", 2, "';' must stand alone"),
        ("! a\n;\n", 2, "';' ends an empty rule"),
        ("! a\nsrc/\n! b\n", 3, "tag declaration inside a rule"),
        ("! a b/c\n", 1, "not a valid tag name"),
        ("!\n", 1, "declares no tag"),
        ("! a\nsrc/\n@\n", 3, "names no tag"),
        ("! a\n/abs/path\n", 2, "absolute"),
        ("! a\nsrc/*/\n", 2, "holds a wildcard"),
        ("! a\nsrc/a src/b\n", 2, "one path pattern"),
    ],
)
def test_errors_name_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(InputError, match=message) as exc:
        parse(text)
    assert exc.value.message.startswith(f"{WHERE}:{line}: ")
    assert exc.value.hint


def test_undeclared_tag_hint_lists_declared() -> None:
    with pytest.raises(InputError) as exc:
        parse("! python java\nsrc/\n@ pyton\n")
    assert exc.value.hint is not None
    assert "'! pyton'" in exc.value.hint
    assert "java, python" in exc.value.hint


@pytest.mark.parametrize(
    ("text", "shadowed_lines"),
    [
        ("python/\n@ a\n;\npython/minray/\n@ a\n;\n", [4]),
        ("python/*\n@ a\n;\npython/minray/\n;\npython/x.py\n;\n", [4, 6]),
        ("*\n@ a\n;\ndocs/\n;\n", [4]),
        ("src/a.py\n;\nsrc/a.py\n@ a\n;\n", [3]),
        ("src/*\n;\nsrc/lib/*.py\n;\nsrc/b.py\n;\n", [3, 5]),
        # not shown (conservative): 'src/*.py' covers 'src/lib/*.py', which no prefix proves
        ("src/*.py\n;\nsrc/lib/*.py\n;\nsrc/b.py\n;\n", [5]),
        # one uncovered pattern keeps the rule alive
        ("python/\n;\npython/x/\nother/\n@ a\n;\n", []),
        # a directory does not cover its own name's siblings
        ("python/\n;\npythonic/\n;\n", []),
        # not shown (conservative): '*.md' covers 'docs/*.md' but no prefix proves it
        ("*.md\n;\ndocs/*.md\n;\n", []),
        # a glob without a trailing '*' covers only the paths it matches
        ("src/*.py\n;\nsrc/\n;\n", []),
    ],
)
def test_shadowed_rules_are_reported(text: str, shadowed_lines: list[int]) -> None:
    rf = parse("! a\n" + text)
    found = rules.shadowed(rf)
    assert [s.rule.line - 1 for s in found] == shadowed_lines
    for s in found:
        assert "can never match" in s.describe(WHERE)


def test_golden_case_failure_names_the_line() -> None:
    rf = parse(EVERY_CONSTRUCT)
    cases = rules.parse_cases("docs/a.md: doc\n# comment\n\nsrc/x.c: doc\n", Path("t.test"))
    failures = rules.case_failures(rf, cases, Path("t.test"))
    assert len(failures) == 1
    assert failures[0].startswith("t.test:4: src/x.c gave [java python]")
    with pytest.raises(InputError, match=r"t\.test:1: a case is 'path: tag"):
        rules.parse_cases("no colon here\n", Path("t.test"))


def test_unmatched_golden_case() -> None:
    rf = parse("! a\nsrc/\n@ a\n")
    cases = rules.parse_cases(f"other: {rules.UNMATCHED}\nsrc/x: a\n", Path("t"))
    assert rules.case_failures(rf, cases, Path("t")) == []


def test_repository_rules_pass_their_golden_cases() -> None:
    """The golden cases beside every ci/*.rules.txt of this repository."""
    paths = rules.find(ROOT, ["ci/*.rules.txt"])
    assert paths, "the repository has no ci/*.rules.txt"
    for path in paths:
        rf = rules.load(path, ROOT)
        assert rules.shadowed(rf) == []
        cases_path = rules.cases_path_for(path)
        cases = rules.parse_cases(cases_path.read_text(), cases_path.relative_to(ROOT))
        assert len(cases) >= 10
        assert rules.case_failures(rf, cases, cases_path.relative_to(ROOT)) == []


def test_missing_rules_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read rules file"):
        rules.load(tmp_path / "none.rules.txt")


LEGACY = """\
# Ray's format before '!' tag declarations (its evaluator listed the tags in Python)
python/
@ python
;
java/
@ java
;
*
@ python java
"""


def test_legacy_file_without_declarations_takes_its_tags_as_declared() -> None:
    rf = rules.parse(LEGACY, WHERE)
    assert rf.legacy
    assert rf.declared == {"python", "java"}
    assert rf.declared_at == {"python": 3, "java": 6}
    assert rf.match("java/pom.xml").tags == ("java",)
    # One '!' line makes the file current: then every tag must be declared.
    with pytest.raises(InputError, match="tag 'java' is not declared"):
        rules.parse("! python\n" + LEGACY, WHERE)


@pytest.mark.subprocess
def test_legacy_rules_file_loads_with_one_warning_through_ci_plan(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    legacy = tmp_path / "legacy.rules.txt"
    legacy.write_text(LEGACY)
    proc = subprocess.run(
        [sys.executable, "-m", "build_support", "ci-plan", "--rules", str(legacy),
         "--changed", "java/pom.xml"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    expected = (
        f"warning: {legacy}: no '!' tag declarations (Ray's rules format before September "
        "2025); its 2 tag(s) are taken as declared, so a misspelt tag is not caught: add "
        "'! java python' at the top to check them"
    )
    assert warnings == [expected]
    assert "steps:" in proc.stdout
