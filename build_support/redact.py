"""The one redaction layer: every writer sends its text through here.

Secrets are found by value and replaced by ``***``:

* the value of every environment variable whose name contains one of
  :data:`DEFAULT_NAMES` (``SECRET``, ``TOKEN``, ``KEY``, ``PASSWORD``, ``PASSWD``,
  ``PASSPHRASE``, ``CREDENTIAL``; case-insensitive; configurable in
  ``[tool.build_support.redact]``), and the password of every URL found in an
  environment value;
* the value of every *credential variable* the harness knows, whatever its name:
  :data:`KNOWN_VARIABLES` and the ones the config names (``*_env`` keys of
  ``[tool.build_support.publish]``, given to :func:`register_variables` at the session
  boundary); ``ignore`` does not apply to them;
* values registered with :func:`register` (a release test's declared secrets, the
  contents of credential files: :func:`register_file`);
* the user-info of any URL (``https://user:token@example.com/simple`` becomes
  ``https://***@example.com/simple``).

A single URL shown in a message goes through :func:`url`, which also drops the query and
fragment (tokens live there too).

Values shorter than :data:`MIN_LENGTH` characters and the literals in
:data:`NOT_SECRET` are not treated as secrets (they would garble every line).

The writers: :mod:`build_support.log` (console), :func:`build_support.cmd.run` (echoed
commands and CommandFailedError), JSON/JUnit/HTML reports and ``result.json`` of the
release tests, the test's own ``stdout.log``/``stderr.log`` (through
:class:`StreamRedactor`) and the files it leaves in ``$RELEASE_RESULTS_DIR``
(:func:`copy_tree`: text files are copied redacted, a binary file holding a secret is
listed, not copied). Captured output that ends up in a message or report is cut to
its last :data:`TAIL_BYTES` per stream with :func:`tail`.

This module uses the standard library only and imports nothing from the harness, so the
error and log modules can use it.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import shutil
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
#: Substrings of variable names whose values are secrets.
DEFAULT_NAMES: tuple[str, ...] = (
    "SECRET",
    "TOKEN",
    "KEY",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CREDENTIAL",
)
#: Credential variables of the tools the harness drives, hidden whatever ``names`` says.
KNOWN_VARIABLES: tuple[str, ...] = (
    "GPG_PASSPHRASE",
    "MAVEN_GPG_PASSPHRASE",
    "TWINE_PASSWORD",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
MIN_LENGTH = 4
#: The shortest content of a credential file that is hidden (shorter text is too common).
MIN_FILE_LENGTH = 8
NOT_SECRET = frozenset({"true", "false", "none", "null", "unset", "yes", "no"})
#: How much of a captured stream a message or report keeps (its end).
TAIL_BYTES = 4096

#: The user-info of a URL (``https://user:password@example.com``), at most 512 characters.
_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]{0,30}://)(?P<info>[^\s/@]{1,512})@"
)
_URL_USERINFO_B = re.compile(
    rb"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]{0,30}://)(?P<info>[^\s/@]{1,512})@"
)


@dataclass(frozen=True, kw_only=True)
class RedactSettings:
    """``[tool.build_support.redact]``."""

    #: Name fragments that mark a variable as secret (replaces the default list).
    names: tuple[str, ...] = DEFAULT_NAMES
    #: Variables never treated as secret even though their name matches.
    ignore: tuple[str, ...] = ()


_settings = RedactSettings()
#: Secret values that are not in this process's environment (e.g. a test's declared env).
_registered: set[str] = set()
#: Credential variables named by the config (``password_env`` …): hidden by value.
_variables: set[str] = set(KNOWN_VARIABLES)


def configure(settings: RedactSettings) -> None:
    """Use ``settings`` from now on (the session boundary calls this once config is read)."""
    global _settings  # noqa: PLW0603 - one process-wide policy, set once at the boundary
    _settings = settings


def register(values: Iterable[str]) -> None:
    """Hide these values too, from now on, in everything this process writes."""
    _registered.update(v for v in values if _usable(v))


def register_variables(names: Iterable[str]) -> None:
    """Hide the value of these variables (in any environment) whatever their name says."""
    _variables.update(n for n in names if n)


def register_file(path: Path) -> bool:
    """Hide the content of a credential file (stripped, at least :data:`MIN_FILE_LENGTH`
    characters); whether it was read. A missing file is not an error here."""
    try:
        value = path.read_text(encoding="utf-8", errors="surrogateescape").strip()
    except OSError:
        return False
    if len(value) >= MIN_FILE_LENGTH:
        register([value])
    return True


def register_env(env: Mapping[str, str]) -> None:
    """Hide the secret-named values and URL passwords of ``env`` (not this process's)."""
    register(secret_values(env))


def is_secret_name(name: str, settings: RedactSettings | None = None) -> bool:
    s = _settings if settings is None else settings
    upper = name.upper()
    return name not in s.ignore and any(part.upper() in upper for part in s.names)


def is_credential(name: str) -> bool:
    """A credential variable the harness knows, or a secret-named one (never passed on)."""
    return name in _variables or is_secret_name(name)


def _usable(value: str) -> bool:
    return len(value) >= MIN_LENGTH and value.lower() not in NOT_SECRET


def url_passwords(text: str) -> list[str]:
    """The passwords (or lone user tokens) inside the URLs of ``text``."""
    found = []
    for m in _URL_USERINFO.finditer(text):
        info = m.group("info")
        found.append(info.split(":", 1)[1] if ":" in info else info)
    return found


def secret_values(
    env: Mapping[str, str] | None = None,
    *,
    extra: Iterable[str] = (),
    settings: RedactSettings | None = None,
) -> list[str]:
    """The values to hide: secret-named variables, URL passwords, ``extra``; longest first."""
    env = os.environ if env is None else env
    values: set[str] = set()
    for name, value in env.items():
        if name in _variables or is_secret_name(name, settings):
            values.add(value)
        values.update(url_passwords(value))
    values.update(extra)
    return sorted((v for v in values if _usable(v)), key=lambda v: (-len(v), v))


def url(location: str) -> str:
    """``location`` without user, password, query or fragment (tokens live there)."""
    if "://" not in location:
        return location
    parts = urlsplit(location)
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _mask_urls(text: str) -> str:
    return _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


class Redactor:
    """Replaces a fixed set of secret values, and URL credentials, in text and bytes."""

    def __init__(self, values: Iterable[str]) -> None:
        self.values = sorted({v for v in values if _usable(v)}, key=lambda v: (-len(v), v))
        self._bvalues = [v.encode("utf-8", "surrogateescape") for v in self.values]

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, extra: Iterable[str] = ()
    ) -> Redactor:
        return cls(secret_values(env, extra=extra))

    @property
    def longest(self) -> int:
        return max((len(b) for b in self._bvalues), default=0)

    def text(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return _mask_urls(text)

    def data(self, data: bytes) -> bytes:
        for value in self._bvalues:
            if value in data:
                data = data.replace(value, MASK.encode())
        return _URL_USERINFO_B.sub(lambda m: m.group("scheme") + MASK.encode() + b"@", data)

    def scrub(self, obj: Any) -> Any:
        """A copy of a JSON-like value with every string (keys too) redacted."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, Mapping):
            return {self.scrub(k): self.scrub(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.scrub(v) for v in obj]
        return obj


def current(extra: Iterable[str] = ()) -> Redactor:
    """A redactor for this process's environment now (it may change during a run)."""
    return Redactor.from_env(extra=[*_registered, *extra])


def text(value: str) -> str:
    """``value`` with the secrets of this process's environment and URL credentials hidden."""
    return current().text(value)


def scrub(obj: Any) -> Any:
    return current().scrub(obj)


def tail(output: str, limit: int = TAIL_BYTES) -> str:
    """The last ``limit`` characters of ``output`` (marked when cut), redacted."""
    if len(output) > limit:
        output = (
            f"[… {len(output) - limit} characters cut; full output in the log]\n"
            + (output[-limit:])
        )
    return text(output)


def file_tail(path: os.PathLike[str] | str, limit: int = TAIL_BYTES) -> str:
    """The last ``limit`` bytes of a file, decoded and redacted; reads nothing else."""
    try:
        with Path(path).open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - limit))
            data = fh.read(limit)
    except OSError:
        return ""
    out = data.decode("utf-8", "replace")
    if size > limit:
        out = f"[… {size - limit} bytes cut; full output in {os.fspath(path)}]\n" + out
    return text(out)


class StreamRedactor:
    """Redacts a byte stream chunk by chunk without ever holding more than a chunk.

    A secret split across two chunks is still found: the end of each chunk that could be
    the start of a secret (or of a URL's user-info) is held back until more data (or
    :meth:`close`) comes.
    """

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.keep = max(redactor.longest, 600)
        self._pending = b""

    def feed(self, data: bytes) -> bytes:
        buf = self.redactor.data(self._pending + data)
        cut = buf.rfind(b"\n", max(0, len(buf) - self.keep - 65536)) + 1
        if cut == 0 or len(buf) - cut > self.keep:
            cut = max(0, len(buf) - self.keep)
        self._pending = buf[cut:]
        return buf[:cut]

    def close(self) -> bytes:
        rest, self._pending = self.redactor.data(self._pending), b""
        return rest


#: How much of a file decides whether it is text (UTF-8 without NUL bytes).
TEXT_PROBE = 8192


@dataclass(frozen=True)
class Withheld:
    """A file :func:`copy_tree` did not copy, and why."""

    path: str
    reason: str


def _is_text(head: bytes) -> bool:
    if b"\0" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def holds_secret(path: Path, redactor: Redactor) -> bool:
    """Whether the bytes of ``path`` contain a secret of ``redactor`` (or URL credentials)."""
    keep = max(redactor.longest, 600)
    tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            buf = tail + chunk
            if redactor.data(buf) != buf:
                return True
            tail = buf[-keep:]
    return False


def copy_file(src: Path, dest: Path, redactor: Redactor) -> str | None:
    """Copy ``src`` to ``dest`` redacted; ``None``, or why it was not copied.

    A text file (UTF-8, no NUL byte in its first :data:`TEXT_PROBE` bytes) is streamed
    through a :class:`StreamRedactor`. A binary file is copied as it is when it holds no
    secret and withheld when it does (masking would corrupt it). A symbolic link is never
    followed, and nothing but a regular file is copied.
    """
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fin:
        st = os.fstat(fin.fileno())
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        head = fin.read(TEXT_PROBE)
        text_file = _is_text(head)
        if not text_file and holds_secret(src, redactor):
            return "a binary file that contains a secret"
        with dest.open("wb") as fout:
            if text_file:
                stream = StreamRedactor(redactor)
                fout.write(stream.feed(head))
                while chunk := fin.read(1 << 20):
                    fout.write(stream.feed(chunk))
                fout.write(stream.close())
            else:
                fout.write(head)
                shutil.copyfileobj(fin, fout, 1 << 20)
        dest.chmod(stat.S_IMODE(st.st_mode) & 0o755)
    return None


def copy_tree(src: Path, dest: Path, redactor: Redactor) -> list[Withheld]:
    """Copy the files under ``src`` into ``dest`` through :func:`copy_file` (names are
    redacted too); what was withheld, with paths relative to ``src``."""
    withheld: list[Withheld] = []

    def walk(folder: Path, into: Path, rel: str) -> None:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                name = redactor.text(entry.name)
                here = f"{rel}{name}"
                if entry.is_symlink():
                    withheld.append(Withheld(here, "a symbolic link (not followed)"))
                elif entry.is_dir(follow_symlinks=False):
                    (into / name).mkdir(parents=True, exist_ok=True)
                    walk(Path(entry.path), into / name, f"{here}/")
                else:
                    into.mkdir(parents=True, exist_ok=True)
                    try:
                        reason = copy_file(Path(entry.path), into / name, redactor)
                    except OSError as exc:
                        (into / name).unlink(missing_ok=True)
                        reason = f"not readable: {exc.strerror or exc}"
                    if reason is not None:
                        withheld.append(Withheld(here, reason))

    if src.is_symlink():
        return [Withheld(redactor.text(src.name), "a symbolic link (not followed)")]
    if src.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        walk(src, dest, "")
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        reason = copy_file(src, dest, redactor)
        if reason is not None:
            withheld.append(Withheld(redactor.text(src.name), reason))
    return withheld


class LogFilter(logging.Filter):
    """Redacts every record of a :mod:`logging` logger (nox's ``nox > cmd`` echo)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = text(record.getMessage())
        record.args = ()
        return True


def filter_logger(name: str) -> None:
    """Send the records of logger ``name`` (and so its command echo) through here too."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, LogFilter) for f in logger.filters):
        logger.addFilter(LogFilter())
