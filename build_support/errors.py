"""One error hierarchy; every class has its own exit code.

Errors are raised anywhere in the library and caught exactly once, at the session
boundary (:func:`build_support.cli.run_stage`), which prints the message and exits
with the class's ``exit_code``. A message says what failed, why, and what to run next.
"""

from __future__ import annotations


class BuildSupportError(Exception):
    """Base class: a failure the harness explains to the user."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(BuildSupportError):
    """The pipeline config or a command-line argument is invalid."""

    exit_code = 2


class UsageError(ConfigError):
    """A session was called with arguments it does not accept."""

    exit_code = 2


class ToolMissingError(BuildSupportError):
    """A required external tool is not installed or not on PATH."""

    exit_code = 3


class InterpreterNotFoundError(ToolMissingError):
    """A configured Python version could not be found on this machine."""

    exit_code = 4


class CommandFailedError(BuildSupportError):
    """An external command exited non-zero."""

    exit_code = 5

    def __init__(
        self,
        message: str,
        *,
        returncode: int,
        output: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.returncode = returncode
        self.output = output


class InputError(BuildSupportError):
    """An input file (requirements, templates, YAML, …) is missing or malformed."""

    exit_code = 6


class ResolutionError(BuildSupportError):
    """Dependencies could not be resolved into a lockfile."""

    exit_code = 7


class StaleError(BuildSupportError):
    """A committed, generated file (lockfile, POM) is out of date."""

    exit_code = 8


class StoreError(BuildSupportError):
    """The artifact store failed (missing key, denied, or gave up after retries)."""

    exit_code = 9


class IntegrityError(StoreError):
    """An artifact's content does not match its recorded SHA-256."""

    exit_code = 10


class ArtifactNotFoundError(StoreError):
    """An artifact that a stage needs is not in the store."""

    exit_code = 11


class StoreTimeoutError(StoreError):
    """Waited for an artifact that another job is producing, and it never came."""

    exit_code = 12


class VerificationError(BuildSupportError):
    """A built artifact failed verification (wrong commit, wrong tag, bad import)."""

    exit_code = 13


class PlatformError(BuildSupportError):
    """The requested platform is unknown or cannot be built on this host."""

    exit_code = 14


class DockerError(BuildSupportError):
    """The Docker engine is unavailable or a build/run failed."""

    exit_code = 15


class GateError(BuildSupportError):
    """A release gate refused (wrong branch, pull request, dirty tree, …)."""

    exit_code = 16


class AttestationError(GateError):
    """An artifact's provenance statement or SBOM is missing, not signed by a trusted key,
    or names other bytes or another commit (tampering): publish and verify refuse it."""

    exit_code = 16


class ProvisionError(BuildSupportError):
    """A system package or service the stage needs could not be installed/started."""

    exit_code = 17


class FileSystemError(BuildSupportError):
    """A file or folder could not be read or written (permissions, disk full, not a folder)."""

    exit_code = 19


class InternalError(BuildSupportError):
    """An unexpected exception: a bug in the harness, reported without a traceback."""

    exit_code = 1


class InterruptedByUser(BuildSupportError):  # noqa: N818 - reads as a state, not a fault
    """The user pressed Ctrl-C."""

    exit_code = 130


class PublishError(BuildSupportError):
    """A publish step failed or its outcome is unresolved; what is left is named."""

    exit_code = 18


class OutputClosedError(BuildSupportError):
    """stdout was closed by its reader (``… | head``), so the output was cut short."""

    exit_code = 141  # 128 + SIGPIPE, as a shell reports a writer killed by a closed pipe
