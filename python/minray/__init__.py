"""minray: a miniature Ray-shaped project with a Cython core and a pure-Python fallback."""

from minray._version import commit as __commit__
from minray._version import version as __version__
from minray.core import HAVE_CORE, RingBuffer, checksum32, toposort

__all__ = [
    "HAVE_CORE",
    "RingBuffer",
    "__commit__",
    "__version__",
    "checksum32",
    "toposort",
]
