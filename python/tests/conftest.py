"""Fixtures shared by minray's tests: the implementations under test."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def _require_core() -> bool:
    return os.environ.get("MINRAY_REQUIRE_CORE", "") not in ("", "0")


def load_core() -> ModuleType:
    """``minray._core``; skips when it is absent, fails instead if MINRAY_REQUIRE_CORE=1."""
    try:
        return importlib.import_module("minray._core")
    except ImportError as exc:
        if _require_core():
            pytest.fail(f"MINRAY_REQUIRE_CORE=1 but minray._core does not import: {exc}")
        pytest.skip(f"minray._core is not built: {exc}")


@pytest.fixture
def core() -> ModuleType:
    return load_core()


@pytest.fixture
def fallback() -> ModuleType:
    return importlib.import_module("minray._fallback")


@pytest.fixture(params=["fallback", "core"])
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """Each implementation in turn, for behaviour tests that both must pass."""
    if request.param == "core":
        return load_core()
    return importlib.import_module("minray._fallback")
