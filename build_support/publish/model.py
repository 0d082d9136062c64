"""The records the core and the targets share: artifacts, what a target holds, plan items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from build_support.commits import BuildContext
    from build_support.config import Config
    from build_support.publish.credentials import Secret
    from build_support.publish.journal import Journal
    from build_support.publish.mavenrepo import Gav
    from build_support.publish.settings import PublishSettings
    from build_support.store.base import Store

#: ``stage`` steps can be undone or stay private (a USER_MANAGED Portal deployment, an
#: image pushed under its immutable tag); ``release`` steps are public and final (PyPI
#: uploads, the Portal's publish, moving tags). Every stage step runs before any release.
Phase = Literal["stage", "release"]


@dataclass(frozen=True, kw_only=True)
class Artifact:
    """One thing to publish to one destination."""

    target: str
    #: A file name, or an image reference.
    name: str
    #: SHA-256 (hex) of the file, or the image's manifest/config digest: the journal key.
    digest: str
    size: int
    #: The commit read from inside the artifact.
    commit: str
    version: str
    #: Where it goes: a URL, Maven coordinates or an image reference.
    destination: str
    phase: Phase = "release"
    path: Path | None = None
    meta: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """What the journal records this artifact under (digest, then destination)."""
        return f"{self.digest} {self.destination}"


class Action(str, Enum):
    SEND = "send"
    SKIP = "skip"
    CONFLICT = "conflict"
    UNKNOWN = "unknown"


@dataclass(frozen=True, kw_only=True)
class Remote:
    """What the target holds at an artifact's destination."""

    present: bool
    digest: str | None = None
    #: Set when the target could not be asked (plan mode reports it; execute refuses).
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class PlanItem:
    artifact: Artifact
    action: Action
    remote: Remote
    reason: str


def decide(artifact: Artifact, remote: Remote, *, mutable: bool = False) -> PlanItem:
    """Send, skip (identical bytes there) or refuse (other bytes there)."""
    if remote.error:
        return PlanItem(
            artifact=artifact, action=Action.UNKNOWN, remote=remote, reason=remote.error
        )
    if not remote.present:
        return PlanItem(artifact=artifact, action=Action.SEND, remote=remote, reason="not there")
    if remote.digest == artifact.digest:
        return PlanItem(
            artifact=artifact, action=Action.SKIP, remote=remote, reason="identical, already there"
        )
    if mutable:
        return PlanItem(
            artifact=artifact,
            action=Action.SEND,
            remote=remote,
            reason=f"moving tag: {remote.digest} -> {artifact.digest}",
        )
    return PlanItem(
        artifact=artifact,
        action=Action.CONFLICT,
        remote=remote,
        reason=f"other content there: target has {remote.digest}, ours is {artifact.digest}",
    )


class Target(Protocol):
    """One registry kind; one module per target implements it."""

    name: str

    def collect(self) -> list[Artifact]:
        """This commit's artifacts, from the store, with the commit read from inside each."""

    def probe(self, artifacts: Sequence[Artifact]) -> list[PlanItem]:
        """What the registry holds for each artifact, decided into plan items."""

    def preflight(self, items: Sequence[PlanItem]) -> None:
        """Checks that send nothing (``twine check``, bundle validation, signing)."""

    def send(self, item: PlanItem, journal: Journal) -> None:
        """Publish one item; the core journals pending before and done after."""

    def close(self) -> None:
        """Remove temporary state (keyrings, docker configs)."""


class MavenAccess(Protocol):
    """What the Central Portal client needs of the Maven target (publish/maven.py).

    The Portal client (publish/portal.py) is a part of the Maven target; it reads the
    target through this, so that portal.py does not import maven.py, which imports it.
    """

    username: str
    password: Secret | None
    #: file name -> coordinates of every collected artifact
    gavs: dict[str, Gav]
    #: where the target downloaded the artifacts (and the Portal bundle is written)
    dir: Path

    def remote_sha256(self, gav: Gav, name: str) -> str | None:
        """The SHA-256 of ``name`` of ``gav`` in the repository, or None when absent."""


@dataclass(frozen=True, kw_only=True)
class RunEnv:
    """What every target gets: the config, where the build is, the store, a scratch dir."""

    cfg: Config
    settings: PublishSettings
    ctx: BuildContext
    store: Store
    workdir: Path
    execute: bool
    env: Mapping[str, str]
    #: ``--repair-partial``: remove and resend our own interrupted uploads where the index
    #: allows deletion (PyPI: :mod:`build_support.publish.pypi`).
    repair_partial: bool = False
