"""Credentials for the targets: from an environment variable or a file, never from config.

Every value read here is registered with :mod:`build_support.redact`, the one redaction
layer that every writer (log, cmd, reports) goes through; the plan JSON and the journal
pass through :func:`scrub` too: a secret never reaches output, logs, the journal or a
report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from build_support import redact
from build_support.errors import ConfigError

MASK = redact.MASK


def register(value: str) -> None:
    """Hide ``value`` from every writer (:mod:`build_support.redact`, the one layer)."""
    if value and len(value) >= redact.MIN_LENGTH:
        redact.register([value])


def scrub(text: str) -> str:
    """``text`` with every secret (registered here, or secret-named in the environment)
    replaced by the mask."""
    return redact.text(text)


@dataclass(frozen=True)
class Secret:
    """A credential value whose repr never shows it."""

    value: str
    source: str

    def __repr__(self) -> str:
        return f"Secret(from {self.source})"

    __str__ = __repr__


def read(
    *,
    env_var: str,
    file: str,
    what: str,
    root: Path,
    env: Mapping[str, str] | None = None,
    required: bool = True,
) -> Secret | None:
    """The secret from ``env_var`` (if set), else from ``file``; registered for scrubbing."""
    env = os.environ if env is None else env
    if env_var and env.get(env_var):
        secret = Secret(env[env_var].strip(), f"${env_var}")
    elif file:
        path = Path(file).expanduser()
        path = path if path.is_absolute() else root / path
        try:
            secret = Secret(path.read_text(encoding="utf-8").strip(), str(path))
        except OSError as exc:
            raise ConfigError(
                f"cannot read the {what} from {path}: {exc.strerror}",
                hint="fix the *_file setting in [tool.build_support.publish] or create the file",
            ) from exc
    elif required:
        raise ConfigError(
            f"no {what}: ${env_var or '(unset)'} is empty and no file is configured",
            hint=f"export {env_var or 'the variable'} or set the *_file key in "
            "[tool.build_support.publish]",
        )
    else:
        return None
    register(secret.value)
    return secret
