"""The checks every wheel passes before it leaves the stage: tags, the commit read from
inside it, and the import in a fresh venv (each compiled module an extension module);
what an auditwheel refusal means."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from build_support import log, wheelfile
from build_support.errors import CommandFailedError, VerificationError
from build_support.wheels.plan import Built

#: The smoke import, run with ``python -I -c CODE <package>`` in a fresh venv. Each of
#: COMPILED must load from an extension module (a pure-Python fallback fails it); the
#: commit is read by :func:`wheelfile.commit_code`.
_CHECK_TEMPLATE = """\
import importlib, importlib.machinery, json, sys
COMPILED = {compiled!r}
pkg = sys.argv[1]
{commit_code}
mod = importlib.import_module(pkg)
{extra}
compiled = {{}}
for name in COMPILED:
    m = importlib.import_module(name)
    origin = getattr(m, "__file__", None) or ""
    if not origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        sys.exit(f"{{name}} is not compiled: it was imported from {{origin or 'nowhere'}}, "
                 "not an extension module (a pure-Python fallback?)")
    compiled[name] = origin
print(json.dumps({{"commit": commit, "file": mod.__file__, "compiled": compiled}}))
"""


def check_code(extra: str, *, compiled: Sequence[str] = (), dist: str = "") -> str:
    """The smoke-import program: ``extra`` runs after the import, each of ``compiled`` must
    be an extension module, and the commit is read by :func:`wheelfile.commit_code`
    (``<package>._version``, else ``.dist-info/COMMIT`` of ``dist``)."""
    return _CHECK_TEMPLATE.format(
        extra=extra or "pass",
        compiled=list(compiled),
        commit_code=wheelfile.commit_code(None, dist or None),
    )


def dist_info_import(wheel: Path) -> tuple[str, str]:
    """What the import check of a ``dist-info`` project imports, and the distribution
    whose installed ``.dist-info/COMMIT`` it reads."""
    names = wheelfile.top_level_names(wheel)
    if not names:
        raise VerificationError(f"{wheel.name} has no top-level package or module to import")
    return names[0], wheelfile.parse_name(wheel.name).distribution


def is_policy_refusal(output: str) -> bool:
    return "cannot repair" in output or "This does not look like a platform wheel" in output


def repair_failed(wheel: str, platform: str, exc: CommandFailedError) -> NoReturn:
    if not is_policy_refusal(exc.output):
        raise exc
    reason = "\n".join(exc.output.strip().splitlines()[-8:]) or exc.message
    raise VerificationError(
        f"{wheel} does not satisfy the {platform} policy (auditwheel refused):\n{reason}",
        hint="link only against the policy's libraries and glibc <= 2.17, "
        "or build in the manylinux image",
    ) from exc


def verify_built(built: Built, commit: str) -> None:
    """Everything a freshly built wheel must pass before it leaves the stage."""
    job = built.job
    with log.group(f"verify {built.wheel.name}"):
        wheelfile.check_tags(built.wheel, platform=job.target.platform, python=job.python)
        job.project.check_commit(built.wheel, commit)
        if built.reported_commit != commit:
            raise VerificationError(
                f"{built.wheel.name} imports, but reports commit "
                f"{built.reported_commit}; expected {commit}"
            )
        compiled = f" (compiled: {', '.join(job.project.compiled)})" if job.project.compiled else ""
        log.success(f"{built.wheel.name}: tags, commit {commit[:12]} and import{compiled} verified")
