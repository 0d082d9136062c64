"""build_support: the library behind the release-engineering nox sessions."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
