"""Ray-format rules files: which changed paths select which tags.

The format is the one Ray's CI reads (``ci/pipeline/test_rules.txt``, now
``.buildkite/*.rules.txt`` read by rayci)::

    # a comment
    ! python java docker doc release_tests      <- declares tags (repeatable)
    python/ray/                                 <- a directory: itself and everything below
    python/*.pyx                                <- fnmatch; ``*`` crosses ``/``
    setup.cfg                                   <- anything else: exactly this file
    @ python                                    <- the rule's tags (repeatable)
    ;                                           <- ends the rule (so does the end of file)
    docs/
    ;                                           <- a rule without tags: a skip
    *
    @ python java docker                        <- the catch-all

Per changed file the first matching rule wins; the tags of every file are combined.
Parsing is strict (errors name ``file:line``); a tag that was not declared is an error,
except in a file with no ``!`` line at all: Ray's format before September 2025 had no
declarations (its evaluator listed the tags in Python), so such a file loads with every
tag it uses taken as declared and :func:`load` warns once;
and a rule that can never match because earlier rules cover all its patterns is
reported by :func:`shadowed`. Golden cases (``*.rules.test.txt``, lines of
``path: tags``) are checked by :func:`check_cases`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from build_support import log
from build_support.errors import InputError

PatternKind = Literal["dir", "glob", "file"]

_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_WILDCARDS = "*?["

#: The token a golden case uses for a path that no rule matches.
UNMATCHED = "(unmatched)"


@dataclass(frozen=True)
class Pattern:
    """One path pattern of a rule, with the line it was read from."""

    text: str
    kind: PatternKind
    line: int

    @property
    def shown(self) -> str:
        """As written in the rules file."""
        return self.text + "/" if self.kind == "dir" else self.text

    @property
    def literal_prefix(self) -> str:
        """What every path this pattern matches starts with."""
        if self.kind != "glob":
            return self.text
        cut = min((i for i, c in enumerate(self.text) if c in _WILDCARDS), default=len(self.text))
        return self.text[:cut]

    def regex(self) -> str:
        """A regular expression matching exactly the paths this pattern matches."""
        if self.kind == "dir":
            return re.escape(self.text) + r"(?:/.*)?\Z"
        if self.kind == "file":
            return re.escape(self.text) + r"\Z"
        return fnmatch.translate(self.text)

    def matches(self, path: str) -> bool:
        if self.kind == "dir":
            return path == self.text or path.startswith(self.text + "/")
        if self.kind == "file":
            return path == self.text
        return fnmatch.fnmatchcase(path, self.text)

    def covers(self, other: Pattern) -> bool:  # noqa: PLR0911 - one case per pattern kind
        """True when every path ``other`` matches is matched by this pattern (provably).

        Conservative: ``False`` means "not shown", never "shown not to".
        """
        if self.kind == "file":
            return other.kind == "file" and other.text == self.text
        if self.kind == "dir":
            prefix = other.literal_prefix
            if other.kind == "glob":
                return prefix.startswith(self.text + "/")
            return prefix == self.text or prefix.startswith(self.text + "/")
        # a glob: an exact file is covered when it matches; anything longer is covered
        # when the glob ends in ``*`` and already matches what every such path starts with
        if other.kind == "file":
            return self.matches(other.text)
        if other.text == self.text:
            return True
        if not self.text.endswith("*"):
            return False
        prefix = other.literal_prefix
        if other.kind == "dir":
            return self.matches(prefix) and self.matches(prefix + "/")
        return self.matches(prefix)


@dataclass(frozen=True)
class Rule:
    """Patterns and the tags they give; no tags means the matched files are skipped."""

    patterns: tuple[Pattern, ...]
    tags: tuple[str, ...]
    line: int

    @property
    def skip(self) -> bool:
        return not self.tags

    def describe(self, path: Path) -> str:
        shown = " ".join(p.shown for p in self.patterns)
        return f"{path}:{self.line} `{shown}`"


@dataclass(frozen=True)
class Match:
    """The rule that decided one path (``rule`` is None: no rule matched)."""

    path: str
    rule: Rule | None

    @property
    def tags(self) -> tuple[str, ...]:
        return self.rule.tags if self.rule else ()


@dataclass(frozen=True)
class RulesFile:
    path: Path
    declared: frozenset[str]
    declared_at: Mapping[str, int]
    rules: tuple[Rule, ...]
    #: no ``!`` declarations: Ray's older format, every tag used counts as declared
    legacy: bool = False
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # One alternation, tried left to right: the first rule that matches wins.
        parts = []
        for i, rule in enumerate(self.rules):
            alternatives = "|".join(f"(?:{p.regex()})" for p in rule.patterns)
            parts.append(f"(?P<r{i}>{alternatives})")
        object.__setattr__(self, "_regex", re.compile("|".join(parts) or r"(?!)", re.DOTALL))

    def match(self, path: str) -> Match:
        """The first rule matching ``path`` (one regex: alternatives are tried in order)."""
        m = self._regex.match(path)
        if m is None or m.lastgroup is None:
            return Match(path, None)
        return Match(path, self.rules[int(m.lastgroup[1:])])

    def match_slow(self, path: str) -> Match:
        """:meth:`match`, one pattern at a time (the reference the fast path is tested on)."""
        for rule in self.rules:
            if any(p.matches(path) for p in rule.patterns):
                return Match(path, rule)
        return Match(path, None)


def _pattern(text: str, line: int, where: str) -> Pattern:
    if " " in text or "\t" in text:
        raise InputError(
            f"{where}: a pattern line holds one path pattern, got {text!r}",
            hint="put each pattern on its own line",
        )
    if text.startswith("/"):
        raise InputError(
            f"{where}: pattern {text!r} is absolute",
            hint="patterns are relative to the repository root: drop the leading '/'",
        )
    if text.endswith("/"):
        if any(c in text for c in _WILDCARDS):
            raise InputError(
                f"{where}: directory {text!r} holds a wildcard",
                hint="write a directory as a plain path ending in '/', or a glob like 'a/*/b/*'",
            )
        return Pattern(text.rstrip("/"), "dir", line)
    if any(c in text for c in _WILDCARDS):
        return Pattern(text, "glob", line)
    return Pattern(text, "file", line)


def parse(text: str, path: Path) -> RulesFile:  # noqa: PLR0912 - one branch per line kind
    """Read a rules file; every error names ``path:line``."""
    declared: dict[str, int] = {}
    rules: list[Rule] = []
    patterns: list[Pattern] = []
    tags: list[str] = []
    tag_lines: list[tuple[str, int]] = []
    start = 0

    def close() -> None:
        nonlocal patterns, tags, start
        if patterns:
            rules.append(Rule(tuple(patterns), tuple(dict.fromkeys(tags)), start))
        patterns, tags = [], []

    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{path}:{number}"
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("!"):
            if patterns or tags:
                raise InputError(
                    f"{where}: tag declaration inside a rule",
                    hint="declare tags ('! tag…') before a rule or after its ';'",
                )
            names = line[1:].split()
            if not names:
                raise InputError(f"{where}: '!' declares no tag", hint="write '! tag1 tag2 …'")
            for name in names:
                if not _TAG_RE.match(name):
                    raise InputError(
                        f"{where}: {name!r} is not a valid tag name",
                        hint="tags are letters, digits, '_', '-' and '.'",
                    )
                declared.setdefault(name, number)
        elif line.startswith("@"):
            if not patterns:
                raise InputError(
                    f"{where}: tags without a path pattern before them",
                    hint="a rule is one or more pattern lines, then '@ tag…' lines, then ';'",
                )
            names = line[1:].split()
            if not names:
                raise InputError(f"{where}: '@' names no tag", hint="write '@ tag1 tag2 …'")
            tags.extend(names)
            tag_lines.extend((name, number) for name in names)
        elif line == ";":
            if not patterns:
                raise InputError(
                    f"{where}: ';' ends an empty rule",
                    hint="remove the extra ';' (a rule needs at least one pattern)",
                )
            close()
        elif ";" in line:
            raise InputError(
                f"{where}: ';' must stand alone on its line, got {line!r}",
                hint="put the ';' that ends a rule on its own line",
            )
        else:
            if tags:
                raise InputError(
                    f"{where}: pattern {line!r} after the rule's tags",
                    hint="end the previous rule with a ';' line first",
                )
            if not patterns:
                start = number
            patterns.append(_pattern(line, number, where))
    close()
    legacy = _check_declared(declared, tag_lines, path)
    return RulesFile(path, frozenset(declared), declared, tuple(rules), legacy=legacy)


def _check_declared(
    declared: dict[str, int], tag_lines: Sequence[tuple[str, int]], path: Path
) -> bool:
    """Every tag used is declared; a file with no declaration at all is Ray's older
    format: its tags are then taken as declared (``declared`` filled), and True returned."""
    legacy = not declared and bool(tag_lines)
    if legacy:
        for name, number in tag_lines:
            declared.setdefault(name, number)
    for name, number in tag_lines:
        if name not in declared:
            raise InputError(
                f"{path}:{number}: tag {name!r} is not declared",
                hint=f"declare it with '! {name}' at the top of {path}, or fix the typo"
                + (f" (declared: {', '.join(sorted(declared))})" if declared else ""),
            )
    return legacy


def load(path: Path, root: Path | None = None) -> RulesFile:
    shown = path.relative_to(root) if root and path.is_relative_to(root) else path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read rules file {shown}: {exc.strerror}") from exc
    parsed = parse(text, shown)
    if parsed.legacy:
        log.warn(
            f"{shown}: no '!' tag declarations (Ray's rules format before September 2025); "
            f"its {len(parsed.declared)} tag(s) are taken as declared, so a misspelt tag is "
            f"not caught: add '! {' '.join(sorted(parsed.declared))}' at the top to check them"
        )
    return parsed


@dataclass(frozen=True)
class Shadowed:
    rule: Rule
    by: tuple[Rule, ...]

    def describe(self, path: Path) -> str:
        earlier = ", ".join(f"line {r.line}" for r in self.by)
        return f"{self.rule.describe(path)} can never match: earlier rules ({earlier}) cover it"


def shadowed(rules_file: RulesFile) -> list[Shadowed]:
    """Rules each of whose patterns is covered by a pattern of an earlier rule."""
    found: list[Shadowed] = []
    earlier: list[tuple[Pattern, Rule]] = []
    for rule in rules_file.rules:
        by: list[Rule] = []
        for p in rule.patterns:
            cover = next((r for q, r in earlier if q.covers(p)), None)
            if cover is None:
                break
            if cover not in by:
                by.append(cover)
        else:
            found.append(Shadowed(rule, tuple(by)))
        earlier.extend((p, rule) for p in rule.patterns)
    return found


@dataclass(frozen=True)
class Case:
    path: str
    tags: frozenset[str]
    line: int


def parse_cases(text: str, path: Path) -> list[Case]:
    """Golden cases: ``path: tag tag…`` per line (no tags: skipped; ``(unmatched)``)."""
    cases = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, tags = line.partition(":")
        if not sep or not name.strip():
            raise InputError(
                f"{path}:{number}: a case is 'path: tag tag…', got {line!r}",
                hint="write the changed path, a colon, and the tags it must select",
            )
        cases.append(Case(name.strip(), frozenset(tags.split()), number))
    return cases


def case_failures(rules_file: RulesFile, cases: Iterable[Case], cases_path: Path) -> list[str]:
    """Every golden case whose path does not give exactly the expected tags."""
    failures = []
    for case in cases:
        m = rules_file.match(case.path)
        got = frozenset(m.tags) if m.rule else frozenset({UNMATCHED})
        if got != case.tags:
            decided = m.rule.describe(rules_file.path) if m.rule else "no rule"
            want = " ".join(sorted(case.tags))
            failures.append(
                f"{cases_path}:{case.line}: {case.path} gave "
                f"[{' '.join(sorted(got))}] (by {decided}), expected [{want}]"
            )
    return failures


def cases_path_for(rules_path: Path) -> Path:
    """``ci/build.rules.txt`` → ``ci/build.rules.test.txt``."""
    return rules_path.with_name(rules_path.name.removesuffix(".rules.txt") + ".rules.test.txt")


def find(root: Path, globs: Sequence[str]) -> list[Path]:
    """The rules files under ``root`` named by ``globs`` (golden-case files excluded)."""
    found: dict[Path, None] = {}
    for pattern in globs:
        for p in sorted(root.glob(pattern)):
            if p.is_file() and not p.name.endswith(".rules.test.txt"):
                found[p] = None
    return list(found)
