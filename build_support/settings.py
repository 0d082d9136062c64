"""The settings of what several stages share: ``[tool.build_support.store]``.

Each stage's own section lives in its folder (``locks/settings.py``, ``wheels/settings.py``,
…); :data:`build_support.config.SECTIONS` maps each section name to its class, and the
config validates every section when it loads (a typo in ``[tool.build_support.jars]``
fails before the pipeline runs its first step). These modules are imported at config
load, by the noxfile too, so they import only the standard library and build_support's
light modules (never a stage module, boto3, docker, yaml, …); ``tests/unit/test_config.py``
checks it.

Numbers are checked by the config reader (finite, >= 0); ``__post_init__`` checks what
the types cannot say.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from build_support.errors import ConfigError

#: The most tries ``retry_attempts`` may ask for: each try may take a full read timeout.
MAX_RETRY_ATTEMPTS = 20


@dataclass(frozen=True, kw_only=True)
class StoreSettings:
    """``[tool.build_support.store]``."""

    #: The fewest attempts a failing request gets (even when each one is slow).
    retry_attempts: int = 5
    #: How long transient faults are retried: a shorter outage is ridden out.
    retry_total_seconds: float = 120.0
    wait_timeout_seconds: float = 7200.0
    wait_interval_seconds: float = 30.0
    #: S3-compatible endpoint; ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` override it.
    endpoint_url: str = ""
    region: str = ""
    multipart_threshold_mb: int = 64
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0

    def __post_init__(self) -> None:
        where = "tool.build_support.store"
        if not 1 <= self.retry_attempts <= MAX_RETRY_ATTEMPTS:
            raise ConfigError(
                f"{where}.retry_attempts = {self.retry_attempts} must be between 1 and "
                f"{MAX_RETRY_ATTEMPTS}",
                hint="it is the fewest tries per operation; retry_total_seconds bounds the time",
            )
        if self.multipart_threshold_mb < 5:
            raise ConfigError(
                f"{where}.multipart_threshold_mb = {self.multipart_threshold_mb} is below "
                "S3's minimum part size",
                hint="use 5 or more",
            )
        for name in (
            "retry_total_seconds",
            "wait_timeout_seconds",
            "wait_interval_seconds",
            "connect_timeout_seconds",
            "read_timeout_seconds",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(
                    f"{where}.{name} = {value} must be a finite number > 0",
                    hint=f"fix {where}.{name} in pyproject.toml",
                )
