"""``python -m minray_cpp`` prints ``"<version> <commit>"``; ``--include`` / ``--library``
print the header directory / shared library path (like ``ray cpp --show-library-path``)."""

from __future__ import annotations

import argparse

import minray_cpp


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m minray_cpp", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--include", action="store_true", help="print the include directory")
    group.add_argument("--library", action="store_true", help="print the shared library path")
    args = parser.parse_args(argv)
    if args.include:
        print(minray_cpp.get_include())
    elif args.library:
        print(minray_cpp.get_library_path())
    else:
        print(f"{minray_cpp.__version__} {minray_cpp.__commit__}")


if __name__ == "__main__":
    main()
