"""What one lock run is asked (:class:`LockJob`) and answers (:class:`LockResult`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from build_support.locks.settings import Backend


@dataclass(frozen=True, kw_only=True)
class LockJob:
    """Everything one lock run needs; tests build it directly with tmp_path locations."""

    python: str
    inputs_dir: Path
    output: Path
    inputs: tuple[str, ...] = ()
    constraints: str | None = "constraints.txt"
    backend: Backend = "pip-tools"
    #: None: the installer's own configuration decides (see build_support.indexes).
    index_url: str | None = None
    find_links: tuple[str, ...] = ()
    #: Resolve from ``find_links`` only.
    no_index: bool = False
    check: bool = False
    #: Resolve twice (each in its own temporary folder) and require identical bytes.
    check_reproducible: bool = False
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    retries: int = 3
    #: Cache of pip-tools/uv (None: the tools' defaults); tests give each run its own.
    cache_dir: Path | None = None
    #: Where tool venvs for other interpreters are made (pip-tools backend).
    tools_dir: Path | None = None
    allowed_pythons: tuple[str, ...] = ("3.10", "3.11", "3.12", "3.13")
    extra_env: Mapping[str, str] = field(default_factory=dict)
    #: Folders besides ``inputs_dir`` that ``-r``/``-c`` may point into.
    include_dirs: tuple[Path, ...] = ()

    @property
    def include_roots(self) -> tuple[Path, ...]:
        return (self.inputs_dir, *self.include_dirs)


@dataclass(frozen=True)
class LockResult:
    output: Path
    status: Literal["skipped", "unchanged", "written", "checked", "reproducible"]
    pins: int
    seconds: float
