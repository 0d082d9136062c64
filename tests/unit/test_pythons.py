from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from build_support import pythons
from build_support.errors import InterpreterNotFoundError


def _fake_pyenv(root: Path, *names: str) -> None:
    for name in names:
        bindir = root / "versions" / name / "bin"
        bindir.mkdir(parents=True)


def test_candidates_prefer_user_then_newest_pyenv_and_skip_shims(tmp_path: Path) -> None:
    _fake_pyenv(tmp_path / "pyenv", "3.12.1", "3.12.10", "3.1.2", "3.12.4-debug")
    shims = tmp_path / "pyenv" / "shims"
    shims.mkdir()
    (shims / "python3.12").write_text("#!/bin/sh\nexit 1\n")
    env = {"PYENV_ROOT": str(tmp_path / "pyenv"), "PATH": str(shims)}
    user = tmp_path / "opt"
    user.mkdir()
    found = list(pythons.candidates("3.12", env=env, extra=[str(user), "/x/python3.12"]))
    assert found[:3] == [user / "python3.12", user / "bin" / "python3.12", Path("/x/python3.12")]
    pyenv = [p.parts[-3] for p in found if "versions" in p.parts]
    assert pyenv == ["3.12.10", "3.12.1"]
    assert all("shims" not in p.parts for p in found)


@pytest.mark.subprocess
def test_find_confirms_by_running(tmp_path: Path) -> None:
    real = Path(sys.executable)
    ver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    user = tmp_path / "bin"
    user.mkdir()
    link = user / f"python{ver}"
    link.symlink_to(real)
    broken = tmp_path / "broken" / f"python{ver}"
    broken.parent.mkdir()
    broken.write_text("#!/bin/sh\necho 'pyenv: version not selected' >&2; exit 127\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": "", pythons.ENV_VAR: os.pathsep.join([str(broken.parent), str(user)])}
    interp = pythons.find(ver, env=env)
    assert interp is not None
    assert interp.path == link
    assert interp.full_version.startswith(ver + ".")


@pytest.mark.subprocess
def test_require_lists_every_missing_version_with_hint(tmp_path: Path) -> None:
    env = {"PATH": "", "PYENV_ROOT": str(tmp_path)}
    with pytest.raises(InterpreterNotFoundError) as exc:
        pythons.require(["3.10", "3.13"], env=env)
    text = str(exc.value)
    assert "3.10, 3.13 not found" in text
    assert "pyenv install 3.13" in text
