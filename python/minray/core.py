"""The public implementations: the compiled ``minray._core`` when it imports, else the fallback.

Set ``MINRAY_DISABLE_CORE=1`` to force the pure-Python fallback (for comparisons).
"""

from __future__ import annotations

import os

from minray import _fallback

HAVE_CORE: bool
if os.environ.get("MINRAY_DISABLE_CORE", "") not in ("", "0"):
    HAVE_CORE = False
else:
    try:
        from minray import _core  # noqa: F401
    except ImportError:
        HAVE_CORE = False
    else:
        HAVE_CORE = True

if HAVE_CORE:
    from minray._core import RingBuffer, checksum32, toposort
else:
    from minray._fallback import RingBuffer, checksum32, toposort  # type: ignore[assignment]

IMPLEMENTATION: str = "minray._core" if HAVE_CORE else _fallback.__name__

__all__ = ["HAVE_CORE", "IMPLEMENTATION", "RingBuffer", "checksum32", "toposort"]
