"""Lock inputs include (``-r``/``-c``) only files of the requirements folder, and an error
shows the offending line of an ``.in`` file, never more of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from build_support.errors import InputError
from build_support.locks import header as lock_header
from build_support.locks import inputs as lock_inputs

TOKEN = "tok-lock-7c1d9e55aa"


@pytest.fixture
def req(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MY_API_TOKEN", TOKEN)
    folder = tmp_path / "requirements"
    folder.mkdir()
    (folder / "base.in").write_text("lib\n")
    return folder


def _digest(files: list[Path], inputs_dir: Path, **kwargs: object) -> str:
    return lock_header.input_digest(
        files,
        inputs_dir=inputs_dir,
        backend="pip-tools",
        backend_version="7.4.1",
        python="3.12",
        index_url=None,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "line",
    [
        "-r /proc/self/environ",
        "-c /proc/self/environ",
        "--requirement=../outside.in",
        "-r ../requirements-evil/x.in",
    ],
)
def test_includes_outside_the_requirements_folder_are_refused(req: Path, line: str) -> None:
    (req.parent / "outside.in").write_text("lib\n")
    bad = req / "bad.in"
    bad.write_text(f"lib\n{line}\n")
    for check in (
        lambda: lock_inputs.validate_file(bad, roots=(req,)),
        lambda: _digest([bad], req),  # the skip-if-unchanged path reads includes too
    ):
        with pytest.raises(InputError) as info:
            check()
        message = str(info.value)
        assert f"{bad}:2:" in message
        assert "outside the requirements folder" in message
        assert TOKEN not in message
        assert "PATH=" not in message


def test_a_symlink_out_of_the_folder_is_refused(req: Path) -> None:
    (req / "env.in").symlink_to("/proc/self/environ")
    top = req / "top.in"
    top.write_text("-r env.in\n")
    with pytest.raises(InputError, match="outside the requirements folder") as info:
        lock_inputs.validate_file(top, roots=(req,))
    assert TOKEN not in str(info.value)


def test_include_dirs_allow_a_named_folder(req: Path) -> None:
    shared = req.parent / "shared"
    shared.mkdir()
    (shared / "common.in").write_text("lib\n")
    top = req / "top.in"
    top.write_text("-r ../shared/common.in\n")
    with pytest.raises(InputError):
        lock_inputs.validate_file(top, roots=(req,))
    lock_inputs.validate_file(top, roots=(req, shared))
    assert _digest([top], req, include_dirs=(shared,)).startswith("sha256:")


def test_configured_inputs_and_constraints_stay_inside(req: Path) -> None:
    with pytest.raises(InputError, match="outside the requirements folder"):
        lock_inputs.input_paths(req, ("../../etc/passwd",))


def test_an_invalid_line_is_shown_alone_and_cut(req: Path) -> None:
    secret_line = "x" * 5000 + " " + TOKEN
    bad = req / "bad.in"
    bad.write_text(f"lib\nnot a requirement !! {secret_line}\nother-line-{TOKEN}\n")
    with pytest.raises(InputError) as info:
        lock_inputs.validate_file(bad, roots=(req,))
    message = str(info.value)
    assert f"{bad}:2: invalid requirement 'not a requirement !!" in message
    assert len(message) < 1000
    assert TOKEN not in message
    assert "other-line" not in message


def test_binary_environment_text_is_not_echoed(req: Path) -> None:
    """What ``-r /proc/self/environ`` used to print: one NUL-separated line of it all."""
    environ = b"\0".join(f"{k}={v}".encode() for k, v in os.environ.items())
    blob = req / "environ.in"
    blob.write_bytes(environ)
    with pytest.raises(InputError) as info:
        lock_inputs.validate_file(blob, roots=(req,))
    assert TOKEN not in str(info.value)
    assert len(str(info.value)) < 1000
