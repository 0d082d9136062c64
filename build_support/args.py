"""Argument parsing for stages: a bad argument is a UsageError (exit 2) like any other."""

from __future__ import annotations

import argparse
import math
from typing import NoReturn

from build_support.config import PythonVersion
from build_support.errors import ConfigError, UsageError


class StageParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors go through the error hierarchy, not ``sys.exit``."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, hint=self.format_usage().strip())


def _number(text: str, kind: type[int] | type[float]) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is invalid: expected a finite number >= 0 (nan, inf and negatives "
            "are refused)"
        )
    return value


def non_negative_float(text: str) -> float:
    """An argparse ``type``: a finite number >= 0 (seconds, sizes)."""
    return float(_number(text, float))


def non_negative_int(text: str) -> int:
    """An argparse ``type``: a whole number >= 0 (counts)."""
    return int(_number(text, int))


def python_version(text: str) -> PythonVersion:
    """An argparse ``type``: a supported Python version, parsed once (``--python 3.12``)."""
    try:
        return PythonVersion.parse(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(f"{exc.message}; {exc.hint}") from None
