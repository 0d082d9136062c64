"""The lock inputs, ``requirements/*.in``: which files, what they include (``-r``/``-c``,
confined to the requirements folder and ``include_dirs``), which options they may use,
each line checked with a message naming file and line."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from build_support.errors import InputError


def input_paths(inputs_dir: Path, names: Sequence[str]) -> list[Path]:
    """The input files in order: ``names`` or every ``*.in`` in ``inputs_dir``, sorted."""
    if not inputs_dir.is_dir():
        raise InputError(
            f"requirements folder {inputs_dir} does not exist",
            hint="create it with one .in file per concern, or fix [tool.build_support.paths]"
            " requirements",
        )
    if names:
        where = "[tool.build_support.lock] inputs"
        paths = [inputs_dir / n for n in names]
        for p in paths:
            confined(p, (inputs_dir,), where=where)
    else:
        paths = sorted(inputs_dir.glob("*.in"))
        if not paths:
            raise InputError(
                f"no *.in files in {inputs_dir}",
                hint="add the lock inputs (base.in, test.in, …) or list them in"
                " [tool.build_support.lock] inputs",
            )
    for p in paths:
        read_bytes(p)
    return paths


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"lock input {path} does not exist",
            hint="create it, or remove it from [tool.build_support.lock] inputs",
        ) from None
    except OSError as exc:
        raise InputError(
            f"lock input {path} cannot be read: {exc.strerror or exc}",
            hint=f"fix the file's permissions (ls -l {path})",
        ) from None


_OPTIONS_WITH_FILE = ("-r", "--requirement", "-c", "--constraint")
_OPTIONS_ALLOWED = (
    *_OPTIONS_WITH_FILE,
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--no-binary",
    "--only-binary",
    "--prefer-binary",
    "--pre",
    "--trusted-host",
    "--no-index",
)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, content) with comments stripped and continuations joined."""
    out: list[tuple[int, str]] = []
    buf = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not buf:
            start = number
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            out.append((start, buf.strip()))
        buf = ""
    if buf.strip():
        out.append((start, buf.strip()))
    return out


#: How much of an offending line an error message shows.
SHOWN_LINE = 200


def _shown(line: str) -> str:
    """An offending line for an error message: cut to SHOWN_LINE characters."""
    return repr(line if len(line) <= SHOWN_LINE else line[:SHOWN_LINE] + "…")


def confined(target: Path, roots: Sequence[Path], *, where: str) -> Path:
    """``target`` resolved, if it lies inside one of ``roots``; else an InputError.

    Lock inputs may pull in (``-r``/``-c``) only files of the requirements folder (and
    the configured ``include_dirs``): ``-r /proc/self/environ`` would otherwise hand the
    whole environment to the resolver and to error messages.
    """
    resolved = target.resolve()
    if any(resolved.is_relative_to(root.resolve()) for root in roots):
        return resolved
    raise InputError(
        f"{where}: {target} is outside the requirements folder {roots[0]}; lock inputs may"
        " only include files from it",
        hint="move the file into the requirements folder, or add its folder to"
        " [tool.build_support.lock] include_dirs",
    )


def referenced_files(path: Path, roots: Sequence[Path] | None = None) -> list[Path]:
    """Files that ``path`` pulls in with ``-r``/``-c``, each confined to ``roots``."""
    roots = (path.parent,) if roots is None else roots
    refs: list[Path] = []
    for n, line in _logical_lines(path.read_text(encoding="utf-8", errors="replace")):
        m = re.match(r"^(-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)$", line)
        if m and "://" not in m.group(2):
            refs.append(confined(path.parent / m.group(2), roots, where=f"{path}:{n}"))
    return refs


def validate_file(
    path: Path, *, seen: set[Path] | None = None, roots: Sequence[Path] | None = None
) -> None:
    """Check every line of a requirements input; an InputError names file and line.

    A message shows the offending line (cut to SHOWN_LINE characters), never more of the
    file; ``-r``/``-c`` targets must lie inside ``roots`` (default: the file's folder).
    """
    from packaging.requirements import InvalidRequirement, Requirement

    roots = (path.parent,) if roots is None else roots
    seen = set() if seen is None else seen
    resolved = path.resolve()
    if resolved in seen:
        return
    seen.add(resolved)
    try:
        text = read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})",
            hint="save the file as UTF-8",
        ) from None
    for number, line in _logical_lines(text):
        where = f"{path}:{number}"
        if line.startswith("-"):
            parts = re.split(r"\s+|=", line, maxsplit=1)
            option, value = parts[0], (parts[1].strip() if len(parts) > 1 else "")
            if option not in _OPTIONS_ALLOWED:
                raise InputError(
                    f"{where}: unsupported option {_shown(option)} in a lock input",
                    hint="allowed options: " + ", ".join(_OPTIONS_ALLOWED),
                )
            if option in _OPTIONS_WITH_FILE:
                if not value:
                    raise InputError(f"{where}: {option} needs a file name")
                if "://" not in value:
                    target = confined(path.parent / value, roots, where=where)
                    if not target.is_file():
                        raise InputError(
                            f"{where}: {option} {_shown(value)}: no such file ({target})",
                            hint="fix the reference or create the file",
                        )
                    validate_file(target, seen=seen, roots=roots)
            continue
        requirement = re.split(r"\s+--", line, maxsplit=1)[0]
        try:
            Requirement(requirement)
        except InvalidRequirement as exc:
            reason = str(exc).splitlines()[0] if str(exc) else "invalid"
            raise InputError(
                f"{where}: invalid requirement {_shown(requirement)}: {reason[:SHOWN_LINE]}",
                hint="fix the line (PEP 508: name[extras] specifier ; marker), then rerun",
            ) from None
