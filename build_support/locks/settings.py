"""``[tool.build_support.lock]`` (light: loaded with the config, standard library only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: The resolvers the lock stage can drive.
Backend = Literal["pip-tools", "uv"]
BACKENDS: tuple[Backend, ...] = ("pip-tools", "uv")


@dataclass(frozen=True, kw_only=True)
class LockSettings:
    """``[tool.build_support.lock]``."""

    #: Which resolver compiles the lockfiles (``--backend`` overrides).
    backend: Backend = "pip-tools"
    #: Skip (successfully) on aarch64 hosts, as Ray does: some pins have no aarch64 wheels.
    skip_on_aarch64: bool = True
    #: The package index resolved against (``--index-url`` overrides); "" (the default):
    #: no index option, so pip-tools / uv use the installer's own configuration
    #: (pip.conf, ``PIP_INDEX_URL``…, ``UV_DEFAULT_INDEX``…; see build_support.indexes).
    index_url: str = ""
    #: Input files in ``paths.requirements``, in order; empty means every ``*.in``, sorted.
    inputs: tuple[str, ...] = ()
    #: Constraints file in ``paths.requirements`` (pins that must not move); "" for none.
    constraints: str = "constraints.txt"
    #: Where the lockfiles go, relative to ``paths.requirements``.
    output_dir: str = "compiled"
    #: Lockfile name; ``{python}`` is the version, e.g. 3.12.
    output_name: str = "requirements_compiled_py{python}.txt"
    #: How often pip / uv retry a failing index request.
    retries: int = 3
    #: Folders (relative to the project root) that ``-r``/``-c`` lines may also point
    #: into; by default only ``paths.requirements``.
    include_dirs: tuple[str, ...] = ()
