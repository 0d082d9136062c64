"""``[tool.build_support.publish]``: where each target publishes, and whose credentials.

Deploy URLs live only here (in the project's pyproject.toml), never in code. Credentials
are never config values: the config names the environment variable or the file that
holds each one (:mod:`build_support.publish.credentials` reads them).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Literal

from build_support import redact
from build_support.errors import ConfigError

TargetName = Literal["pypi", "maven", "docker"]
TARGETS: tuple[TargetName, ...] = ("pypi", "maven", "docker")
WHERE = "tool.build_support.publish"


_REMOTE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


def check_url(where: str, value: str, example: str) -> None:
    """A deploy URL is ``http(s)://host/…`` without credentials in it (ConfigError).

    ``file://`` (and any other scheme) is refused: the targets speak HTTP only. A
    ``user:token@`` part is refused: it would be printed, journaled and sent with every
    request; credentials come from the ``*_env``/``*_file`` keys.
    """
    if not value:
        return
    parts = urllib.parse.urlsplit(value)
    try:
        _ = parts.port
    except ValueError:
        raise ConfigError(f"{where} has an invalid port", hint=example) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{where} = {redact.url(value)!r} is not an http(s) URL with a host "
            f"(scheme {parts.scheme or '(none)'!r})",
            hint=example,
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"{where} = {redact.url(value)!r} has credentials in it (user:token@)",
            hint="remove them from the URL; give them with the table's username_env and "
            "password_env (or password_file) keys (docs/publish.md, Configuration)",
        )


@dataclass(frozen=True, kw_only=True)
class PypiSettings:
    """``[tool.build_support.publish.pypi]``: a PyPI-compatible index."""

    #: Where ``twine upload`` sends files (PyPI: its ``…/legacy/`` upload URL).
    repository_url: str = ""
    #: The index's simple API root, read to see what is already there (PyPI: its
    #: ``…/simple/`` URL).
    index_url: str = ""
    #: A name for the index in the plan and the journal.
    repository_name: str = "pypi"
    #: ``__token__`` for API tokens; or a user name (``username_env`` overrides it).
    username: str = "__token__"
    username_env: str = ""
    #: The token or password: from this environment variable, else from this file.
    password_env: str = "BUILD_SUPPORT_PYPI_PASSWORD"  # noqa: S105 - a variable name
    password_file: str = ""
    #: Send credentials when reading the simple API too (private indexes).
    auth_for_reads: bool = True
    timeout_seconds: float = 60.0


@dataclass(frozen=True, kw_only=True)
class DockerSettings:
    """``[tool.build_support.publish.docker]``: a Docker registry."""

    #: ``host[:port]`` of a registry; "" is Docker's default registry (Docker Hub), the
    #: one an unqualified ``namespace/name`` resolves to.
    registry: str = ""
    #: The namespace (user/organisation) under the registry; "" keeps the images' own.
    namespace: str = ""
    #: Which images of ``dist/images/images.json`` to publish; empty: every image there
    #: (base-deps and the product image, ``[tool.build_support.images]`` names).
    images: tuple[str, ...] = ()
    username_env: str = "BUILD_SUPPORT_DOCKER_USERNAME"
    password_env: str = "BUILD_SUPPORT_DOCKER_PASSWORD"  # noqa: S105 - a variable name
    password_file: str = ""
    #: The registry's HTTP API root; "" is ``https://<registry>`` (``http://`` when insecure).
    api_url: str = ""
    #: Talk plain HTTP to the registry (loopback test registries only).
    insecure: bool = False
    timeout_seconds: float = 600.0


@dataclass(frozen=True, kw_only=True)
class MavenSettings:
    """``[tool.build_support.publish.maven]``: a Maven repository or the Central Portal."""

    transport: Literal["maven-repository", "central-portal"] = "maven-repository"
    release_url: str = ""
    snapshot_url: str = ""
    #: The Central Portal's base URL (see docs/publish.md).
    portal_url: str = ""
    publishing_type: Literal["AUTOMATIC", "USER_MANAGED"] = "USER_MANAGED"
    username_env: str = "BUILD_SUPPORT_MAVEN_USERNAME"
    password_env: str = "BUILD_SUPPORT_MAVEN_PASSWORD"  # noqa: S105 - a variable name
    password_file: str = ""
    #: An armored secret key in this environment variable is imported into a temporary
    #: GNUPGHOME; without it the default keyring (or agent) is used.
    gpg_key_env: str = "BUILD_SUPPORT_GPG_KEY"
    gpg_key_id: str = ""
    gpg_passphrase_file: str = ""
    gpg_passphrase_env: str = "BUILD_SUPPORT_GPG_PASSPHRASE"  # noqa: S105 - a variable name
    poll_interval_seconds: float = 10.0
    poll_timeout_seconds: float = 1800.0
    timeout_seconds: float = 120.0


@dataclass(frozen=True, kw_only=True)
class PublishSettings:
    """``[tool.build_support.publish]``."""

    #: Targets published when none is named on the command line.
    targets: tuple[TargetName, ...] = TARGETS
    #: The only branch that may publish; "" means the top-level ``default_branch``.
    branch: str = ""
    #: The git remote whose copy of that branch must contain ``HEAD`` (fetched when
    #: needed): the branch gate asks git, never a variable.
    remote: str = "origin"
    #: Require a passing release-tests summary for the commit.
    require_release_tests: bool = True
    #: The run the gate requires: the latest run of the commit, of the release_tests
    #: file as it is now, with this selection (smoke, all, nightly, nightly+smoke, …).
    release_tests_gate: str = "smoke"
    #: Tests whose failure the gate forgives, each only while its history says flaky.
    release_tests_ignore_flaky: tuple[str, ...] = ()
    #: How many commits of the branch that history reads.
    release_tests_history: int = 10
    pypi: PypiSettings = field(default_factory=PypiSettings)
    docker: DockerSettings = field(default_factory=DockerSettings)
    maven: MavenSettings = field(default_factory=MavenSettings)

    def __post_init__(self) -> None:
        from build_support.releasetests.runs import check_selection

        check_selection(self.release_tests_gate, f"{WHERE}.release_tests_gate")
        if not 1 <= self.release_tests_history <= 1000:
            raise ConfigError(
                f"{WHERE}.release_tests_history = {self.release_tests_history}",
                hint="1 to 1000 commits",
            )
        examples = {
            "pypi": "e.g. https://upload.example.com/legacy/ and https://example.com/simple/",
            "maven": "e.g. https://repo.example.com/releases (WebDAV or any server that "
            "takes `mvn deploy`); a local folder is not a target",
            "docker": "e.g. https://registry.example.com ('' derives it from registry)",
        }
        urls = [("pypi", n, getattr(self.pypi, n)) for n in ("repository_url", "index_url")]
        urls += [("maven", n, getattr(self.maven, n))
                 for n in ("release_url", "snapshot_url", "portal_url")]  # fmt: skip
        urls.append(("docker", "api_url", self.docker.api_url))
        for table, name, value in urls:
            check_url(f"{WHERE}.{table}.{name}", value, examples[table])
        if not _REMOTE.fullmatch(self.remote):
            raise ConfigError(
                f"{WHERE}.remote = {self.remote!r} is not a git remote name",
                hint='the name `git remote` lists, e.g. "origin" (the default)',
            )
        if self.branch != self.branch.strip():
            raise ConfigError(f"{WHERE}.branch = {self.branch!r} has surrounding spaces")
        if "/" in self.docker.registry or "://" in self.docker.registry:
            raise ConfigError(
                f"{WHERE}.docker.registry = {self.docker.registry!r} must be a host[:port]",
                hint='e.g. registry.example.com or 127.0.0.1:5000 ("" for Docker Hub)',
            )
