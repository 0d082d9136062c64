"""images: contexts, digests, lockfile handling, wheel matching, settings, arguments."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from build_support import lockfile, reproducible, wheelfile
from build_support.commits import BuildContext
from build_support.config import Config, Paths
from build_support.containers import context, engine
from build_support.errors import ConfigError, InputError, UsageError
from build_support.images import inputs as image_inputs
from build_support.images import stage as images_stage
from build_support.images.inputs import fetch_wheels
from build_support.images.settings import ImagesSettings
from build_support.store import keys
from build_support.store.local import LocalStore

LOCK = """\
# header comment
six==1.17.0 \\
    --hash=sha256:aaaa \\
    --hash=sha256:bbbb
    # via python-dateutil
numpy==2.2.6 ; python_version >= "3.10" \\
    --hash=sha256:cccc
    # via
    #   pandas
"""


def test_constraints_strip_hashes_and_comments() -> None:
    assert lockfile.constraints(LOCK) == ('six==1.17.0\nnumpy==2.2.6 ; python_version >= "3.10"\n')
    assert lockfile.constraints("# nothing\n") == ""


def _ctx(tmp_path: Path) -> context.BuildContext:
    (tmp_path / "w.whl").write_bytes(b"wheel")
    exe = tmp_path / "run.sh"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    ctx = context.BuildContext()
    ctx.add("Dockerfile", b"FROM scratch\n")
    ctx.add("wheelhouse/w.whl", tmp_path / "w.whl")
    ctx.add("bin/run.sh", exe)
    ctx.add_dir("empty")
    return ctx


def _tar(ctx: context.BuildContext) -> bytes:
    buf = io.BytesIO()
    ctx.write_tar(buf)
    return buf.getvalue()


def test_context_tar_is_reproducible_and_sorted(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    first = _tar(ctx)
    (tmp_path / "w.whl").touch()  # a new mtime changes nothing
    assert _tar(ctx) == first
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [
        "Dockerfile",
        "bin",
        "bin/run.sh",
        "empty",
        "wheelhouse",
        "wheelhouse/w.whl",
    ]
    assert {m.mtime for m in members} == {reproducible.FIXED_MTIME}
    assert {(m.uid, m.gid) for m in members} == {(0, 0)}
    modes = {m.name: m.mode for m in members}
    assert modes["bin/run.sh"] == 0o755
    assert modes["wheelhouse/w.whl"] == 0o644


def test_context_digest_follows_content_not_mtime(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    before = ctx.digest()
    (tmp_path / "w.whl").touch()
    assert ctx.digest() == before
    (tmp_path / "w.whl").write_bytes(b"other wheel")
    assert ctx.digest() != before


def test_context_rejects_escaping_paths() -> None:
    with pytest.raises(ValueError, match="bad context path"):
        context.BuildContext().add("../x", b"")


def test_input_digest_changes_with_each_input() -> None:
    base: dict[str, object] = {
        "context_digest": "c",
        "build_args": {"A": "1"},
        "labels": {"l": "v"},
        "base_image_id": "sha256:1",
        "platform": "linux/amd64",
    }
    ref = context.input_digest(**base)  # type: ignore[arg-type]
    for key, value in [
        ("context_digest", "d"),
        ("build_args", {"A": "2"}),
        ("labels", {"l": "w"}),
        ("base_image_id", "sha256:2"),
        ("platform", "linux/arm64"),
    ]:
        assert context.input_digest(**{**base, key: value}) != ref, key  # type: ignore[arg-type]
    assert context.input_digest(**base) == ref  # type: ignore[arg-type]


PLAIN_FAILURE = """\
#5 [2/4] RUN echo step-one-ok
#5 sha256:6a68
#5 0.455 step-one-ok
#5 DONE 0.6s

#6 [3/4] RUN echo about to fail; exit 3
#6 sha256:e169
#6 0.553 about to fail
#6 0.554 some detail
#6 ERROR: executor failed running [/bin/sh -c echo about to fail; exit 3]: exit code: 3
------
 > [3/4] RUN echo about to fail; exit 3:
------
executor failed running [/bin/sh -c echo about to fail; exit 3]: exit code: 3
"""


def test_failing_step_output_picks_the_failed_step() -> None:
    out = engine.failing_step_output(PLAIN_FAILURE)
    assert "some detail" in out
    assert "exit code: 3" in out
    assert "step-one-ok" not in out


def test_failing_step_output_without_steps_is_the_tail() -> None:
    text = "\n".join(f"line {i}" for i in range(100))
    out = engine.failing_step_output(text)
    assert out.splitlines()[-1] == "line 99"
    assert "line 0\n" not in out


@pytest.mark.parametrize(
    ("filename", "dist", "expected"),
    [
        ("minray-0.1.0-cp311-cp311-manylinux2014_x86_64.whl", "minray", True),
        ("minray-0.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "minray", True),
        ("minray_cpp-0.1.0-cp311-cp311-manylinux2014_x86_64.whl", "minray_cpp", True),
        ("minray_cpp-0.1.0-cp311-cp311-manylinux2014_x86_64.whl", "minray", False),
        ("minray-0.1.0-cp312-cp312-manylinux2014_x86_64.whl", "minray", False),
        ("minray-0.1.0-cp311-cp311-manylinux2014_aarch64.whl", "minray", False),
        ("minray-0.1.0-cp311-cp311-macosx_12_0_arm64.whl", "minray", False),
        ("minray-0.1.0-py3-none-any.whl", "minray", True),
        ("minray-0.1.0-cp311-cp311-musllinux_1_2_x86_64.whl", "minray", False),
        ("minray-0.1.0-cp311-cp311-manylinux_2_28_x86_64.whl", "minray", False),
        ("not-a-wheel.txt", "minray", False),
    ],
)
def test_wheel_matching(filename: str, dist: str, *, expected: bool) -> None:
    assert (
        wheelfile.matches(filename, dist, python="3.11", platform="manylinux2014_x86_64")
        is expected
    )


def test_fetch_wheels_takes_the_wheel_that_fits_the_target_not_the_last_key(
    tmp_path: Path,
) -> None:
    """A musllinux and a manylinux_2_28 wheel of the same commit sort after the
    manylinux2014 one; neither installs on the manylinux2014 target, so neither is taken."""
    s = LocalStore(tmp_path / "store")
    ctx = BuildContext(branch="main", sha="a" * 40, pr_number=None, dirty=False)
    names = [
        "minray-1.0-cp311-cp311-manylinux2014_x86_64.whl",
        "minray-1.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        "minray-1.0-cp311-cp311-musllinux_1_2_x86_64.whl",
        "minray-1.0-py3-none-any.whl",
    ]
    for name in names:
        source = tmp_path / name
        source.write_bytes(name.encode())
        s.put(keys.wheel_key(ctx.branch, ctx.sha, name), source)
    dest = tmp_path / "dl"
    dest.mkdir()
    (got,) = fetch_wheels(s, ctx=ctx, python="3.11", arch="x86_64", dists=["minray"], dest=dest)
    assert got.name == "minray-1.0-cp311-cp311-manylinux2014_x86_64.whl"
    assert got.read_bytes() == got.name.encode()


#: The product's names, which the harness has no default for.
PRODUCT = {"namespace": "example", "image_name": "tiny", "wheels": ["tiny"], "smoke_module": "tiny"}


def _cfg(tmp_path: Path, **section: object) -> Config:
    return Config(
        root=tmp_path,
        paths=Paths(requirements="requirements"),
        sections={"images": {**PRODUCT, **section}},
    )


def test_the_product_names_have_no_default(tmp_path: Path) -> None:
    bare = Config(root=tmp_path, paths=Paths(requirements="requirements"), sections={})
    with pytest.raises(ConfigError, match="does not set namespace, image_name, wheels") as info:
        images_stage.main([], bare)
    assert info.value.exit_code == 2
    with pytest.raises(ConfigError, match=r"does not set smoke_module\b"):
        images_stage.main([], _cfg(tmp_path, smoke_module=""))


def test_settings_defaults_and_validation(tmp_path: Path) -> None:
    s = _cfg(tmp_path).section("images", ImagesSettings)
    assert s.cpu_base == "ubuntu:22.04"
    assert s.cuda() == "12.8.1-cudnn"
    assert image_inputs.wheelhouse_platforms("aarch64", s)[0] == "manylinux2014_aarch64"
    with pytest.raises(ConfigError, match="base_fallback"):
        _cfg(tmp_path, base_fallback="maybe").section("images", ImagesSettings)
    with pytest.raises(ConfigError, match=r"3\.9"):
        _cfg(tmp_path, python_versions=["3.9"]).section("images", ImagesSettings)
    with pytest.raises(ConfigError, match="cuda_version"):
        _cfg(tmp_path, gpu_base="my/gpu:latest").section("images", ImagesSettings).cuda()


def test_missing_lockfile_names_the_lock_session(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nox -s lock-3\.11"):
        lockfile.require(_cfg(tmp_path).path("requirements"), "3.11")


def test_lockfile_without_hashes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "requirements" / "compiled" / "requirements_compiled_py3.11.txt"
    path.parent.mkdir(parents=True)
    path.write_text("six==1.17.0\n")
    with pytest.raises(InputError, match="no hashes"):
        lockfile.require(_cfg(tmp_path).path("requirements"), "3.11")
    path.write_text(LOCK)
    assert lockfile.require(_cfg(tmp_path).path("requirements"), "3.11") == path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--flavor", "tpu"], "invalid choice"),
        (["--bogus"], "unrecognized"),
    ],
)
def test_bad_arguments(tmp_path: Path, argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        images_stage.main(argv, _cfg(tmp_path))


def test_unsupported_python_and_platform(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a supported Python version"):
        images_stage.main(["--python", "2.7"], _cfg(tmp_path))
    with pytest.raises(UsageError, match="Linux images"):
        images_stage.main(["--platform", "macosx_12_0_arm64"], _cfg(tmp_path))


def test_created_ns_orders_the_engines_timestamps() -> None:
    """``Created`` as the engine reports it (RFC 3339, up to nanoseconds): the last
    tie-break of :func:`engine.oldest_with_label`."""
    ns = engine.created_ns
    assert ns("2026-11-26T04:31:05.638669137Z") == 1795667465638669137
    assert ns("2026-11-26T04:31:05.6Z") == 1795667465600000000
    assert ns("2026-11-26T04:31:05.5Z") > ns("2026-11-26T04:31:05.49999Z")
    assert ns("2026-11-26T04:31:05Z") < ns("2026-11-26T04:31:05.000000001Z")
    assert ns("2026-11-26T06:31:05+02:00") == ns("2026-11-26T04:31:05Z")
    assert ns("") == ns("yesterday") == 0
