"""``[tool.build_support.rootfs]``: how local base images are made (light: loaded with the
config, standard library only)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class RootfsSettings:
    """``[tool.build_support.rootfs]``."""

    #: The Debian mirror debootstrap downloads from; "" (the default): the one apt uses on
    #: this host (/etc/apt/sources.list, sources.list.d/*). No mirror is built in.
    mirror: str = ""
