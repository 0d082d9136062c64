"""A JAR's native platform, ``<os>-<arch>``: the names and tables, without pack's I/O.

Light on purpose: ``[tool.build_support.jars] platforms`` is validated with it when the
config loads (build_support/jars/settings.py); :mod:`build_support.jars.pack` uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from build_support.errors import InputError

#: Where a JAR carries native libraries: ``native/<os>/<arch>/lib<name><suffix>``.
NATIVE_PREFIX = "native/"
#: ELF ``e_machine`` per architecture.
ELF_MACHINES: dict[str, int] = {"x86_64": 62, "aarch64": 183}
#: Library file name per operating system.
LIBRARY_SUFFIX: dict[str, str] = {"linux": ".so", "darwin": ".dylib"}


@dataclass(frozen=True, order=True)
class Platform:
    """An ``<os>-<arch>`` pair, as in ``[tool.build_support.jars] platforms``."""

    os: str
    arch: str

    @classmethod
    def parse(cls, text: str) -> Platform:
        os_name, _, arch = text.partition("-")
        if os_name not in LIBRARY_SUFFIX or arch not in ELF_MACHINES:
            raise InputError(
                f"unknown platform {text!r}",
                hint="use <os>-<arch> with os in "
                + "/".join(LIBRARY_SUFFIX)
                + " and arch in "
                + "/".join(ELF_MACHINES)
                + ", e.g. linux-x86_64",
            )
        return cls(os_name, arch)

    @property
    def native_dir(self) -> str:
        return f"{NATIVE_PREFIX}{self.os}/{self.arch}/"

    def library(self, name: str) -> str:
        """The entry of library ``name`` (e.g. ``ray_jni``) for this platform."""
        return f"{self.native_dir}lib{name}{LIBRARY_SUFFIX[self.os]}"

    def __str__(self) -> str:
        return f"{self.os}-{self.arch}"
