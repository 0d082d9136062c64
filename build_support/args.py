"""Argument parsing for stages: a bad argument is a UsageError (exit 2) like any other."""

from __future__ import annotations

import argparse
from typing import NoReturn

from build_support.errors import UsageError


class StageParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors go through the error hierarchy, not ``sys.exit``."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, hint=self.format_usage().strip())
