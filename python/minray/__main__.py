"""``python -m minray`` prints ``"<version> <commit>"``."""

from __future__ import annotations

from minray import __commit__, __version__


def main() -> None:
    print(f"{__version__} {__commit__}")


if __name__ == "__main__":
    main()
