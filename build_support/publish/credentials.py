"""Credentials for the targets: from an environment variable or a file, never from config.

Every value read here is registered with :mod:`build_support.redact`, the one redaction
layer that every writer (log, cmd, reports) goes through; the plan JSON and the journal
pass through :func:`scrub` too: a secret never reaches output, logs, the journal or a
report.

Before any stage runs, :func:`register_sources` tells the redaction layer every
credential variable and file ``[tool.build_support.publish]`` names, so their values are
hidden by every stage (a release test that prints ``$BUILD_SUPPORT_GPG_PASSPHRASE``
included), not only once publish has read them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from build_support import redact
from build_support.errors import ConfigError
from build_support.publish.settings import PublishSettings

MASK = redact.MASK


def register(value: str) -> None:
    """Hide ``value`` from every writer (:mod:`build_support.redact`, the one layer)."""
    if value and len(value) >= redact.MIN_LENGTH:
        redact.register([value])


def variables(settings: PublishSettings) -> list[str]:
    """The credential variables the publish config names (passwords, tokens, the signing
    key and its passphrase); user names are not secrets."""
    names = (settings.pypi.password_env, settings.docker.password_env,
             settings.maven.password_env, settings.maven.gpg_key_env,
             settings.maven.gpg_passphrase_env)  # fmt: skip
    return [n for n in names if n]


def files(settings: PublishSettings, root: Path) -> list[Path]:
    """The credential files the publish config names, resolved against ``root``."""
    out = []
    for name in (settings.pypi.password_file, settings.docker.password_file,
                 settings.maven.password_file, settings.maven.gpg_passphrase_file):  # fmt: skip
        if name:
            path = Path(name).expanduser()
            out.append(path if path.is_absolute() else root / path)
    return out


def register_sources(settings: PublishSettings, root: Path) -> None:
    """Hide the value of every credential variable and file (>= 8 characters) the config
    names, from now on, in everything this process writes."""
    redact.register_variables(variables(settings))
    for path in files(settings, root):
        redact.register_file(path)


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
