"""``[tool.build_support.release_tests]`` (light: loaded with the config; standard library
and build_support's light modules only)."""

from __future__ import annotations

from dataclasses import dataclass

from build_support.config import PythonVersion
from build_support.releasetests.exitcodes import DEFAULT_RETRY_CODES


@dataclass(frozen=True, kw_only=True)
class ReleaseTestsSettings:
    """``[tool.build_support.release_tests]``."""

    #: Python for tests without ``python:``; unset means the first configured version.
    python: PythonVersion | None = None
    #: The distribution whose wheel is tested, and the package that carries ``_version.py``
    #: (both required by the stage).
    distribution: str = ""
    package: str = ""
    #: The image the images stage builds (``--in-image``), found in ``dist/images/images.json``;
    #: "": ``[tool.build_support.images] image_name``.
    image_name: str = ""
    retry_codes: tuple[int, ...] = DEFAULT_RETRY_CODES
    max_retries: int = 1
    backoff_min_seconds: float = 1800.0
    backoff_max_seconds: float = 5400.0
    #: A failed run within this many seconds exits 79 so CI retries it.
    time_limit_seconds: float = 10800.0
    #: Seconds between SIGTERM and SIGKILL for a test's process group.
    kill_grace_seconds: float = 10.0
    results_dir: str = "results/release-tests"
    #: Variables of the runner's environment every test receives, besides the built-in
    #: allowlist (fnmatch patterns); a test names anything else in its ``env``.
    env_passthrough: tuple[str, ...] = ()
    venv_cache: str = ".cache/release-tests"
    #: Jailed tests (fnmatch patterns of names), left out of a selection unless
    #: ``--run-jailed``; Ray keeps this state in its test database (``selection.py``).
    jailed: tuple[str, ...] = ()
