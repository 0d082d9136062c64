"""The wheel stage's planning and bad-input handling, without building anything."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from build_support import config, sources
from build_support.errors import (
    ConfigError,
    GateError,
    PlatformError,
    UsageError,
    VerificationError,
)
from build_support.platforms import Host
from build_support.wheels import stage as wheel_stage
from build_support.wheels.buildimage import parse_probe
from build_support.wheels.plan import (
    ContainerTarget,
    NativeTarget,
    build_mode,
    parse_image_overrides,
    plan_targets,
)
from build_support.wheels.projects import copy_stamped, load_projects
from build_support.wheels.settings import WheelSettings
from build_support.wheels.verify import check_code
from tests.conftest import git

LINUX_X86 = Host("Linux", "x86_64")
LINUX_ARM = Host("Linux", "aarch64")
MAC_ARM = Host("Darwin", "arm64")


def test_host_platform_builds_natively() -> None:
    assert build_mode("manylinux2014_x86_64", LINUX_X86, image=None) == "native"
    assert build_mode("manylinux2014_aarch64", LINUX_ARM, image="img") == "native"


def test_foreign_arch_needs_an_image() -> None:
    assert build_mode("manylinux2014_aarch64", LINUX_X86, image="img") == "container"
    with pytest.raises(PlatformError, match="no build image is configured") as info:
        build_mode("manylinux2014_aarch64", LINUX_X86, image=None)
    assert "--image manylinux2014_aarch64=IMAGE" in str(info.value)


def test_native_false_forces_the_container() -> None:
    mode = build_mode("manylinux2014_x86_64", LINUX_X86, image="img", native=False)
    assert mode == "container"


@pytest.mark.parametrize("host", [LINUX_X86, LINUX_ARM])
def test_macos_refused_off_macos_naming_the_host(host: Host) -> None:
    with pytest.raises(PlatformError) as info:
        build_mode("macosx_12_0_arm64", host, image="img")
    text = str(info.value)
    assert "Darwin-arm64" in text
    assert f"{host.system}-{host.machine}" in text
    assert "delocate" in text


def test_macos_builds_natively_on_apple_silicon() -> None:
    assert build_mode("macosx_12_0_arm64", MAC_ARM, image=None) == "native"
    assert build_mode("macosx_14_0_arm64", MAC_ARM, image=None) == "native"


def test_unknown_tag() -> None:
    with pytest.raises(PlatformError, match="unknown platform tag 'win_amd64'"):
        build_mode("win_amd64", LINUX_X86, image="img")


def test_plan_targets_applies_overrides_and_dedupes() -> None:
    settings = WheelSettings()
    targets = plan_targets(
        ["manylinux2014_x86_64", "manylinux2014_aarch64", "manylinux2014_x86_64"],
        settings,
        {"manylinux2014_aarch64": "rootfs:bookworm"},
        LINUX_X86,
        force_container=False,
    )
    assert [(t.platform, t.mode, t.image) for t in targets] == [
        ("manylinux2014_x86_64", "native", None),
        ("manylinux2014_aarch64", "container", "rootfs:bookworm"),
    ]


def test_default_images_are_the_official_manylinux_ones() -> None:
    (target,) = plan_targets(
        ["manylinux2014_aarch64"], WheelSettings(), {}, LINUX_X86, force_container=False
    )
    assert target.image == "quay.io/pypa/manylinux2014_aarch64"
    settings = WheelSettings(images={"manylinux2014_aarch64": "rootfs:bookworm"})
    (target,) = plan_targets(
        ["manylinux2014_aarch64"], settings, {}, LINUX_X86, force_container=False
    )
    assert target.image == "rootfs:bookworm"


@pytest.mark.parametrize("value", ["manylinux2014_aarch64", "manylinux2014_aarch64=", "=img"])
def test_bad_image_overrides(value: str) -> None:
    with pytest.raises((UsageError, PlatformError)):
        parse_image_overrides([value])


def test_parse_probe_prefers_first_and_ignores_noise() -> None:
    out = (
        "3.11.9 /opt/python/cp311-cp311/bin/python\n"
        "warning: something\n"
        "3.11.2 /usr/bin/python3\n"
        "3.12.4 /opt/python/cp312-cp312/bin/python\n"
    )
    assert parse_probe(out) == {
        "3.11": ("3.11.9", "/opt/python/cp311-cp311/bin/python"),
        "3.12": ("3.12.4", "/opt/python/cp312-cp312/bin/python"),
    }


def test_check_code_runs_the_extra_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pkg = tmp_path / "fakepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "_version.py").write_text(f'commit = "{"c" * 40}"\n')
    (pkg / "extra.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["-c", "fakepkg"])
    exec(check_code("import fakepkg.extra"), {})
    assert '"commit": "' + "c" * 40 in capsys.readouterr().out
    assert "fakepkg.extra" in sys.modules


def test_settings_reject_unknown_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"(?s)unknown key.*did you mean 'projects'"):
        config.from_table({"wheel": {"projectz": ["python"]}}, tmp_path)


def _cfg(root: Path) -> config.Config:
    return config.from_table({"python_versions": ["3.12"]}, root)


def test_main_unknown_platform_fails_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match="unknown platform tag"):
        wheel_stage.main(["manylinux1_i686"], _cfg(tmp_path))


def test_main_unsupported_python(tmp_path: Path) -> None:
    if sys.platform != "linux":
        pytest.skip("host-platform default is Linux-specific here")
    with pytest.raises(UsageError, match=r"'3\.9' is not a supported Python version"):
        wheel_stage.main(["--python", "3.9"], _cfg(tmp_path))


def test_main_bad_option_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unrecognized arguments"):
        wheel_stage.main(["--frobnicate"], _cfg(tmp_path))


@pytest.mark.skipif(sys.platform != "linux", reason="refusal is for non-mac hosts")
def test_main_refuses_macos_on_linux(tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match="macOS arm64 host"):
        wheel_stage.main(["macosx_12_0_arm64"], _cfg(tmp_path))


def _project(repo: Path) -> None:
    pkg = repo / "proj" / "pkg"
    pkg.mkdir(parents=True)
    (repo / "proj" / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    (pkg / "__init__.py").write_text("")
    (pkg / "_version.py").write_text('commit = "{{COMMIT_SHA}}"\n')
    (repo / ".gitignore").write_text("*.log\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "project")


@pytest.mark.subprocess
def test_project_files_tracked_untracked_not_ignored(git_repo: Path) -> None:
    _project(git_repo)
    (git_repo / "proj" / "new.py").write_text("")
    (git_repo / "proj" / "debug.log").write_text("")
    (git_repo / "proj" / "nested").mkdir()
    (git_repo / "proj" / "nested" / "setup.py").write_text("")
    files = sources.project_files(git_repo, git_repo / "proj", [git_repo / "proj" / "nested"])
    assert files == ["new.py", "pkg/__init__.py", "pkg/_version.py", "setup.py"]


@pytest.mark.subprocess
def test_release_refuses_a_dirty_tree(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("BUILD_SUPPORT_COMMIT", "BUILDKITE_COMMIT", "GITHUB_SHA"):
        monkeypatch.delenv(var, raising=False)
    _project(git_repo)
    (git_repo / "proj" / "setup.py").write_text("# edited\n")
    cfg = config.from_table(
        {"python_versions": ["3.12"], "wheel": {"projects": ["proj"]}}, git_repo
    )
    with pytest.raises(GateError, match="dirty working tree") as info:
        wheel_stage.main(["--release"], cfg)
    assert "proj/setup.py" in str(info.value)
    assert not (git_repo / "dist").exists()


@pytest.mark.subprocess
def test_project_without_placeholder_cannot_be_stamped(git_repo: Path, tmp_path: Path) -> None:
    _project(git_repo)
    (git_repo / "proj" / "pkg" / "_version.py").write_text('commit = "abc"\n')
    cfg = config.from_table({"wheel": {"projects": ["proj"]}}, git_repo)
    (project,) = load_projects(cfg.root, cfg.section("wheel", WheelSettings))
    with pytest.raises(VerificationError, match="placeholder"):
        copy_stamped(project, tmp_path / "copy", "d" * 40)


def test_targets_are_typed_native_or_container() -> None:
    native, container = plan_targets(
        ["manylinux2014_x86_64", "manylinux2014_aarch64"],
        WheelSettings(),
        {},
        LINUX_X86,
        force_container=False,
    )
    assert isinstance(native, NativeTarget)
    assert isinstance(container, ContainerTarget)
    assert container.image == "quay.io/pypa/manylinux2014_aarch64"
    (forced,) = plan_targets(
        ["manylinux2014_x86_64"], WheelSettings(), {}, LINUX_X86, force_container=True
    )
    assert isinstance(forced, ContainerTarget)
    assert (forced.mode, forced.image) == ("container", "quay.io/pypa/manylinux2014_x86_64")
