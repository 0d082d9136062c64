"""jarpack refuses JAR entries that are absolute or climb out with ``..``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from build_support.errors import InputError
from build_support.jars import pack
from build_support.jars.pack import Source
from tests.unit.test_jarpack import LINUX_ARM, LINUX_X86, linux_jar


def _with_entry(jar: Path, name: str) -> Path:
    with zipfile.ZipFile(jar, "a") as zf:
        zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), b"payload")
    return jar


@pytest.mark.parametrize(
    "name",
    [
        "../evil.txt",
        "META-INF/../../evil.txt",
        "/etc/cron.d/evil",
        "native/linux/../../x",
        "C:/evil.txt",
        "a\\..\\..\\evil.txt",
    ],
)
def test_unsafe_entries_are_refused_not_copied(tmp_path: Path, name: str) -> None:
    jar = _with_entry(linux_jar(tmp_path / "linux.jar"), name)
    out = tmp_path / "out.jar"
    with pytest.raises(InputError, match="unsafe entry") as info:
        pack.repack([Source("linux", jar)], out, [LINUX_X86, LINUX_ARM])
    assert str(jar) in str(info.value)
    assert not out.exists()


def test_dots_inside_a_name_are_fine(tmp_path: Path) -> None:
    jar = _with_entry(linux_jar(tmp_path / "linux.jar"), "META-INF/a..b/c...txt")
    out = tmp_path / "out.jar"
    pack.repack([Source("linux", jar)], out, [LINUX_X86, LINUX_ARM])
    assert "META-INF/a..b/c...txt" in zipfile.ZipFile(out).namelist()
