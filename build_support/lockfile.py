"""The one reader of compiled lockfiles (pip-compile's format, with hashes).

The lock stage writes them; the images stage installs ``base-deps`` from them and stages
their constraints; the release-test venvs use their constraints. Everyone finds them with
:func:`path` and reads them with :func:`parse` (or its views: :func:`pins`,
:func:`constraints`, and :func:`resolution`, which ``lock --check`` compares with
:func:`differences`), so a lockfile means the same thing to every stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from build_support.errors import InputError

OUTPUT_DIR = "compiled"
OUTPUT_NAME = "requirements_compiled_py{python}.txt"

_HASH = re.compile(r"\s--hash[= ](\S+)")


@dataclass(frozen=True)
class Pin:
    """One requirement of a lockfile."""

    #: Canonical name (PEP 503: lower case, runs of ``-_.`` as ``-``).
    name: str
    requirement: Requirement
    hashes: frozenset[str]
    line: int

    @property
    def version(self) -> str | None:
        """The pinned version (``==X``), or None for a direct reference or a range."""
        specs = list(self.requirement.specifier)
        if len(specs) == 1 and specs[0].operator in ("==", "==="):
            return specs[0].version
        return None

    @property
    def constraint(self) -> str:
        """As a line of a pip constraints file: no extras (pip refuses them), no hashes."""
        req = self.requirement
        text = req.name + (f" @ {req.url}" if req.url else str(req.specifier))
        return text + (f" ; {req.marker}" if req.marker is not None else "")


def path(
    requirements_dir: Path,
    python: str,
    *,
    output_dir: str = OUTPUT_DIR,
    output_name: str = OUTPUT_NAME,
) -> Path:
    """Where the lockfile for ``python`` is (``compiled/requirements_compiled_pyX.Y.txt``)."""
    return requirements_dir / output_dir / output_name.format(python=python)


def _entries(text: str) -> list[tuple[int, str]]:
    """Logical lines (continuations joined, comments removed) with their first line number."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not buf:
            start = number
        if line.endswith("\\"):
            buf.append(line[:-1])
            continue
        buf.append(line)
        joined = " ".join(part.strip() for part in buf).strip()
        buf = []
        if joined:
            out.append((start, joined))
    if buf:
        out.append((start, " ".join(part.strip() for part in buf).strip()))
    return out


def parse(text: str, *, where: str = "lockfile") -> list[Pin]:
    """Every requirement of a lockfile, in order; options (``--index-url`` …) are skipped."""
    found: list[Pin] = []
    for number, entry in _entries(text):
        if entry.startswith("-"):
            continue
        hashes = frozenset(_HASH.findall(" " + entry))
        spec = _HASH.sub("", " " + entry).strip()
        try:
            req = Requirement(spec)
        except InvalidRequirement as exc:
            raise InputError(
                f"{where}:{number}: {spec!r} is not a requirement: {exc}",
                hint="recompile it with the lock stage (nox -s lock-X.Y)",
            ) from None
        found.append(Pin(canonicalize_name(req.name), req, hashes, number))
    return found


def pins(text: str) -> dict[str, tuple[str, frozenset[str]]]:
    """``{canonical name: (version, hashes)}`` of the ``==`` pins: the format-neutral view
    used to compare backends (comments, header, order of hashes do not matter)."""
    return {p.name: (p.version, p.hashes) for p in parse(text) if p.version is not None}


#: What a resolution is made of, per requirement: ``{(name, marker): (requirement, hashes)}``
#: where requirement is ``name==version`` (or ``name @ url``) without extras or marker.
Resolution = dict[tuple[str, str], tuple[str, frozenset[str]]]


def resolution(text: str, *, where: str = "lockfile") -> Resolution:
    """The lockfile's meaning: package, version (or URL), markers and hash set of each
    requirement. Header, comments (``# via …``), order, line breaks and the order of
    hashes do not count: two backends' files for the same resolution compare equal."""
    found: Resolution = {}
    for pin in parse(text, where=where):
        req = pin.requirement
        spec = req.name + (f" @ {req.url}" if req.url else str(req.specifier))
        marker = str(req.marker) if req.marker is not None else ""
        found[(pin.name, marker)] = (
            canonicalize_name(req.name) + spec[len(req.name) :],
            pin.hashes,
        )
    return found


def _entry(key: tuple[str, str], value: tuple[str, frozenset[str]]) -> str:
    hashes = len(value[1])
    marker = f" ; {key[1]}" if key[1] else ""
    return f"{value[0]}{marker} ({hashes} hash{'es' if hashes != 1 else ''})"


def differences(committed: str, recompiled: str, *, where: str = "lockfile") -> list[str]:
    """How ``recompiled`` resolves differently from ``committed``, one line per change
    (``-`` committed, ``+`` recompiled, ``~`` same pin with another hash set); empty when
    they mean the same. See :func:`resolution` for what counts."""
    old, new = resolution(committed, where=where), resolution(recompiled, where="recompiled")
    out: list[str] = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if a is not None and b is not None and a[0] == b[0]:
            gone = sorted(a[1] - b[1])
            added = sorted(b[1] - a[1])
            detail = ", ".join([*(f"+{h}" for h in added), *(f"-{h}" for h in gone)])
            out.append(f"~{_entry(key, a)}: hashes differ: {detail}")
            continue
        if a is not None:
            out.append(f"-{_entry(key, a)}")
        if b is not None:
            out.append(f"+{_entry(key, b)}")
    return out


def constraints(text: str) -> str:
    """The lockfile as a pip constraints file: requirements in order, without hashes,
    extras or comments."""
    lines = [p.constraint for p in parse(text)]
    return "\n".join(lines) + ("\n" if lines else "")


def require(requirements_dir: Path, python: str, *, hashes: bool = True) -> Path:
    """The lockfile for ``python`` when it exists (and, with ``hashes``, every requirement
    carries hashes); else an InputError naming the lock session to run."""
    lock = path(requirements_dir, python)
    if not lock.is_file():
        raise InputError(
            f"no lockfile for Python {python}: {lock} does not exist",
            hint=f"compile it first: nox -s lock-{python}",
        )
    if hashes:
        parsed = parse(lock.read_text(encoding="utf-8"), where=str(lock))
        if any(not p.hashes for p in parsed):
            raise InputError(
                f"{lock} has no hashes; base-deps installs with --require-hashes",
                hint=f"recompile it: nox -s lock-{python}",
            )
    return lock
