"""The lock stage against a local index of tiny real wheels (offline, deterministic).

Pure parts (input validation, digest, header, post-processing, pin parsing) run
without subprocesses; resolution runs uv (marked ``subprocess``) against a
``--find-links`` folder made in tmp_path. pip-tools runs in tests/integration, since
its pinned tool venv is installed from PyPI once.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from build_support import lockfile, reproducible
from build_support.config import from_table
from build_support.errors import ConfigError, InputError, ResolutionError, StaleError, UsageError
from build_support.locks import backends as lock_backends
from build_support.locks import diagnose as lock_diagnose
from build_support.locks import header as lock_header
from build_support.locks import inputs as lock_inputs
from build_support.locks import stage as lock_stage
from build_support.locks.job import LockJob
from build_support.locks.settings import LockSettings

# --------------------------------------------------------------------------- helpers


def make_wheel(index: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A real, installable pure-Python wheel with ``Requires-Dist`` lines, written directly."""
    index.mkdir(parents=True, exist_ok=True)
    dist = f"{name.replace('-', '_')}-{version}"
    path = index / f"{dist}-py3-none-any.whl"
    files = {
        f"{name.replace('-', '_')}/__init__.py": f"__version__ = {version!r}\n",
        f"{dist}.dist-info/METADATA": "\n".join(
            [
                "Metadata-Version: 2.1",
                f"Name: {name}",
                f"Version: {version}",
                *(f"Requires-Dist: {r}" for r in requires),
                "",
            ]
        ),
        f"{dist}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for arcname, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{arcname},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, text in files.items():
            info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            zf.writestr(info, text)
    return path


def sha256_of(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def make_project(tmp_path: Path) -> tuple[Path, Path]:
    """(index, requirements dir): app -> lib>=1, tool; constraint pins tool==1.0."""
    index = tmp_path / "index"
    make_wheel(index, "app", "1.0", ("lib>=1.0",))
    make_wheel(index, "lib", "1.0")
    make_wheel(index, "tool", "1.0")
    make_wheel(index, "tool", "2.0")
    make_wheel(index, "extra-dep", "1.0", ("lib",))
    req = tmp_path / "requirements"
    req.mkdir()
    (req / "base.in").write_text("# runtime\napp>=1.0\n")
    (req / "test.in").write_text("-r base.in\ntool  # pinned by constraints\nextra-dep\n")
    (req / "constraints.txt").write_text("tool==1.0\n")
    return index, req


def job_for(tmp_path: Path, index: Path, req: Path, **kw: object) -> LockJob:
    base = LockJob(
        python="3.12",
        inputs_dir=req,
        output=req / "compiled" / "requirements_compiled_py3.12.txt",
        backend="uv",
        no_index=True,
        find_links=(str(index),),
        cache_dir=tmp_path / "cache",
        retries=0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- pure parts


def test_input_paths_default_is_every_in_file_sorted(tmp_path: Path) -> None:
    _index, req = make_project(tmp_path)
    assert [p.name for p in lock_inputs.input_paths(req, ())] == ["base.in", "test.in"]
    assert [p.name for p in lock_inputs.input_paths(req, ("test.in",))] == ["test.in"]


def test_missing_input_file_is_an_input_error(tmp_path: Path) -> None:
    _index, req = make_project(tmp_path)
    with pytest.raises(InputError, match=r"nope\.in does not exist"):
        lock_inputs.input_paths(req, ("base.in", "nope.in"))
    with pytest.raises(InputError, match=r"no \*\.in files"):
        lock_inputs.input_paths(tmp_path / "index", ())


def test_unreadable_input_file_is_an_input_error(tmp_path: Path) -> None:
    _index, req = make_project(tmp_path)
    (req / "broken.in").mkdir()  # unreadable as a file, even for root
    with pytest.raises(InputError, match=r"broken\.in cannot be read"):
        lock_inputs.input_paths(req, ())


@pytest.mark.parametrize(
    ("text", "line", "match"),
    [
        ("ok>=1\nbad requirement here\n", 2, "invalid requirement"),
        ("# c\n\nfoo>=>1\n", 3, "invalid requirement"),
        ("foo \\\n  >=1,<<2\n", 1, "invalid requirement"),
        ("--frobnicate yes\n", 1, "unsupported option"),
        ("-r missing.in\n", 1, "no such file"),
    ],
)
def test_syntax_errors_name_file_and_line(tmp_path: Path, text: str, line: int, match: str) -> None:
    f = tmp_path / "x.in"
    f.write_text(text)
    with pytest.raises(InputError, match=match) as info:
        lock_inputs.validate_file(f)
    assert f"{f}:{line}:" in str(info.value)


def test_valid_lines_pass(tmp_path: Path) -> None:
    (tmp_path / "other.in").write_text("b\n")
    f = tmp_path / "x.in"
    f.write_text(
        "# comment\n-r other.in\n-c other.in\n--prefer-binary\n"
        'a[x,y]>=1 ; python_version >= "3.10"  # trailing\n'
        "c @ https://example.invalid/c-1.0-py3-none-any.whl\n"
        "d \\\n  >=2\n"
    )
    lock_inputs.validate_file(f)


def test_digest_changes_with_every_input(tmp_path: Path) -> None:
    _index, req = make_project(tmp_path)
    files = [req / "base.in", req / "test.in", req / "constraints.txt"]
    kw = {"inputs_dir": req, "backend": "uv", "backend_version": "1", "python": "3.12"}
    first = lock_header.input_digest(files, index_url="https://i.example", **kw)  # type: ignore[arg-type]
    assert first == lock_header.input_digest(files, index_url="https://i.example", **kw)  # type: ignore[arg-type]
    assert first != lock_header.input_digest(files, index_url="https://j.example", **kw)  # type: ignore[arg-type]
    assert first != lock_header.input_digest(
        files,
        index_url="https://i.example",
        **{**kw, "python": "3.11"},  # type: ignore[arg-type]
    )
    assert first != lock_header.input_digest(
        files,
        index_url="https://i.example",
        **{**kw, "backend_version": "2"},  # type: ignore[arg-type]
    )
    (req / "constraints.txt").write_text("tool==2.0\n")
    assert first != lock_header.input_digest(files, index_url="https://i.example", **kw)  # type: ignore[arg-type]


def test_digest_follows_included_files(tmp_path: Path) -> None:
    (tmp_path / "inner.txt").write_text("a\n")
    (tmp_path / "x.in").write_text("-r inner.txt\n")
    kw = {"inputs_dir": tmp_path, "backend": "uv", "backend_version": "1", "python": "3.12"}
    before = lock_header.input_digest([tmp_path / "x.in"], index_url=None, **kw)  # type: ignore[arg-type]
    (tmp_path / "inner.txt").write_text("b\n")
    assert before != lock_header.input_digest([tmp_path / "x.in"], index_url=None, **kw)  # type: ignore[arg-type]


def test_postprocess_drops_local_file_entries_whole() -> None:
    text = (
        "a==1.0 \\\n    --hash=sha256:" + "1" * 64 + "\n    # via -r base.in\n"
        "mypkg @ file:///home/me/src/mypkg\n    # via -r base.in\n"
        "z==2.0 \\\n    --hash=sha256:" + "2" * 64 + "   \n    # via a\n\n"
    )
    out = lock_header.postprocess(text)
    assert "file:" not in out
    assert "mypkg" not in out
    assert out.endswith("    # via a\n")
    assert set(lockfile.pins(out)) == {"a", "z"}


def test_parse_pins_normalises_names_and_collects_hashes() -> None:
    text = (
        "Foo_Bar==1.0 \\\n    --hash=sha256:"
        + "a" * 64
        + " \\\n    --hash=sha256:"
        + "b" * 64
        + "\n    # via\n    #   -r x.in\nbaz[extra]==2 ; python_version < '4' \\\n"
        "    --hash=sha256:" + "c" * 64 + "\n"
    )
    pins = lockfile.pins(text)
    assert pins["foo-bar"] == ("1.0", frozenset({"sha256:" + "a" * 64, "sha256:" + "b" * 64}))
    assert pins["baz"][0] == "2"


def test_header_round_trip_and_hand_edit_detection(tmp_path: Path) -> None:
    job = LockJob(python="3.12", inputs_dir=tmp_path, output=tmp_path / "l.txt")
    body = "a==1.0 \\\n    --hash=sha256:" + "1" * 64 + "\n"
    header = lock_header.make_header(
        job, files=[tmp_path / "a.in"], digest="sha256:abc", body=body, version="9"
    )
    assert "/" not in header.split("from:")[1].split("\n")[0].replace("nox -s", "")
    job.output.write_text(header + body)
    fields, parsed = lock_header.split_lockfile(job.output.read_text())
    assert fields[lock_header.DIGEST_KEY] == "sha256:abc"
    assert parsed == body
    assert lock_header.is_current(job.output, "sha256:abc")
    assert not lock_header.is_current(job.output, "sha256:other")
    job.output.write_text(header + body.replace("1.0", "1.1"))
    assert not lock_header.is_current(job.output, "sha256:abc")


def test_reproducible_difference_names_the_body_line_and_the_package(tmp_path: Path) -> None:
    job = LockJob(python="3.12", inputs_dir=tmp_path, output=tmp_path / "l.txt")

    def compiled(tool: str, tool_hash: str) -> str:
        body = (
            "lib==1.0 \\\n    --hash=sha256:" + "1" * 64 + "\n    # via -r a.in\n"
            f"tool=={tool} \\\n    --hash=sha256:" + tool_hash * 64 + "\n    # via -r a.in\n"
        )
        header = lock_header.make_header(
            job, files=[tmp_path / "a.in"], digest="sha256:abc", body=body, version="9"
        )
        return header + body

    first = compiled("1.0", "2")
    header_lines = len(first.splitlines()) - 6
    assert lock_stage.reproducible_difference(first, compiled("1.0", "2"), where="l.txt") is None
    # Only the hash differs: the plain first difference is the header's body digest.
    rehashed = compiled("1.0", "3")
    assert lock_header.BODY_KEY in (reproducible.first_text_difference(first, rehashed) or "")
    got = lock_stage.reproducible_difference(first, rehashed, where="l.txt")
    assert got == (
        f"line {header_lines + 5}: '    --hash=sha256:{'2' * 64}' != '    --hash=sha256:{'3' * 64}'"
        f"; packages: ~tool==1.0 (1 hash): hashes differ: +sha256:{'3' * 64}, -sha256:{'2' * 64}"
    )
    moved = lock_stage.reproducible_difference(first, compiled("1.1", "2"), where="l.txt")
    assert moved == (
        f"line {header_lines + 4}: 'tool==1.0 \\\\' != 'tool==1.1 \\\\'"
        "; packages: -tool==1.0 (1 hash), +tool==1.1 (1 hash)"
    )


def test_conflicting_packages_from_resolver_text() -> None:
    pip_text = (
        "ERROR: Cannot install app==1.0 and lib<1 because these package versions have "
        "conflicting dependencies.\nThe conflict is caused by:\n    The user requested lib<1\n"
        "    app 1.0 depends on lib>=1.0\n"
    )
    assert lock_diagnose.conflicting_packages(pip_text) == ["app", "lib"]
    assert (
        lock_diagnose.conflicting_packages("No matching distribution found for nosuch")[0]
        == "nosuch"
    )


# --------------------------------------------------------------------------- the CLI


def _cfg(tmp_path: Path, lock: dict[str, object] | None = None) -> object:
    table: dict[str, object] = {"python_versions": ["3.11", "3.12"]}
    if lock is not None:
        table["lock"] = lock
    return from_table(table, tmp_path)


def test_unknown_python_lists_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'3\.9'") as info:
        lock_stage.main(["--python", "3.9"], _cfg(tmp_path))  # type: ignore[arg-type]
    assert "3.11, 3.12" in str(info.value)


def test_bad_arguments_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        lock_stage.main(["--python", "3.12", "--backend", "poetry"], _cfg(tmp_path))  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        lock_stage.main([], _cfg(tmp_path))  # type: ignore[arg-type]


def test_bad_config_value_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="backend"):
        lock_stage.main(["--python", "3.12"], _cfg(tmp_path, {"backend": "pdm"}))  # type: ignore[arg-type]


def test_aarch64_host_skips_without_touching_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _cfg(tmp_path)
    assert lock_stage.main(["--python", "3.12"], cfg, host_machine="aarch64") == 0  # type: ignore[arg-type]
    assert "skipping on an aarch64 host" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    cfg = _cfg(tmp_path, {"skip_on_aarch64": False})
    with pytest.raises(InputError, match="does not exist"):  # it really tries to lock
        lock_stage.main(["--python", "3.12"], cfg, host_machine="arm64")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- resolving with uv


@pytest.mark.subprocess
def test_resolves_with_hashes_and_constraints(tmp_path: Path) -> None:
    index, req = make_project(tmp_path)
    job = job_for(tmp_path, index, req)
    result = lock_stage.lock(job)
    assert result.status == "written"
    text = job.output.read_text()
    pins = lockfile.pins(text)
    assert {n: v for n, (v, _h) in pins.items()} == {
        "app": "1.0",
        "lib": "1.0",
        "tool": "1.0",
        "extra-dep": "1.0",
    }
    assert pins["tool"][1] == {sha256_of(index / "tool-1.0-py3-none-any.whl")}
    assert pins["app"][1] == {sha256_of(index / "app-1.0-py3-none-any.whl")}
    assert str(tmp_path) not in text
    assert "file:" not in text
    assert "--find-links" not in text


@pytest.mark.subprocess
def test_rerun_is_byte_identical_and_skips(tmp_path: Path) -> None:
    index, req = make_project(tmp_path)
    job = job_for(tmp_path, index, req)
    lock_stage.lock(job)
    first = job.output.read_bytes()
    mtime = job.output.stat().st_mtime_ns
    again = lock_stage.lock(job)
    assert again.status == "skipped"
    assert job.output.stat().st_mtime_ns == mtime
    job.output.unlink()
    lock_stage.lock(replace(job, cache_dir=tmp_path / "cache2"))
    assert job.output.read_bytes() == first


@pytest.mark.subprocess
def test_check_passes_then_fails_with_a_diff_when_stale(tmp_path: Path) -> None:
    index, req = make_project(tmp_path)
    job = job_for(tmp_path, index, req)
    lock_stage.lock(job)
    committed = job.output.read_bytes()
    assert lock_stage.lock(replace(job, check=True)).status == "checked"
    (req / "constraints.txt").write_text("tool==2.0\n")
    with pytest.raises(StaleError) as info:
        lock_stage.lock(replace(job, check=True))
    assert info.value.exit_code == 8
    assert "-tool==1.0" in str(info.value)
    assert "+tool==2.0" in str(info.value)
    assert job.output.read_bytes() == committed


@pytest.mark.subprocess
def test_check_without_a_lockfile_is_stale(tmp_path: Path) -> None:
    index, req = make_project(tmp_path)
    with pytest.raises(StaleError, match="does not exist"):
        lock_stage.lock(job_for(tmp_path, index, req, check=True))


@pytest.mark.subprocess
def test_upgrade_package_moves_only_that_package(tmp_path: Path) -> None:
    index, req = make_project(tmp_path)
    job = job_for(tmp_path, index, req)
    lock_stage.lock(job)
    make_wheel(index, "app", "2.0", ("lib>=1.0",))
    make_wheel(index, "lib", "2.0")
    (req / "base.in").write_text("# runtime\napp>=1.0\n\n")  # inputs changed: re-resolve
    lock_stage.lock(job)
    pins = lockfile.pins(job.output.read_text())
    assert (pins["app"][0], pins["lib"][0]) == ("1.0", "1.0")  # existing pins are kept
    lock_stage.lock(replace(job, upgrade_packages=("app",)))
    pins = lockfile.pins(job.output.read_text())
    assert (pins["app"][0], pins["lib"][0]) == ("2.0", "1.0")
    lock_stage.lock(replace(job, upgrade=True))
    assert lockfile.pins(job.output.read_text())["lib"][0] == "2.0"


@pytest.mark.subprocess
def test_unresolvable_names_the_conflict_and_writes_nothing(tmp_path: Path) -> None:
    index, req = make_project(tmp_path)
    (req / "base.in").write_text("app>=1.0\nlib<1.0\n")
    job = job_for(tmp_path, index, req)
    with pytest.raises(ResolutionError) as info:
        lock_stage.lock(job)
    assert info.value.exit_code == 7
    assert "lib" in str(info.value).split("\n")[0]
    assert not job.output.exists()


@pytest.mark.subprocess
def test_missing_package_is_named(tmp_path: Path) -> None:
    index, req = make_project(tmp_path)
    (req / "base.in").write_text("no-such-package\n")
    with pytest.raises(ResolutionError, match="no-such-package"):
        lock_stage.lock(job_for(tmp_path, index, req))


@pytest.mark.subprocess
def test_syntax_error_changes_nothing(tmp_path: Path) -> None:
    index, req = make_project(tmp_path)
    job = job_for(tmp_path, index, req)
    lock_stage.lock(job)
    before = job.output.read_bytes()
    (req / "test.in").write_text("-r base.in\ntool ===> 3\n")
    with pytest.raises(InputError, match=r"test\.in:2"):
        lock_stage.lock(job)
    assert job.output.read_bytes() == before
    assert sorted(p.name for p in job.output.parent.iterdir()) == [job.output.name]


@pytest.mark.subprocess
def test_missing_local_index_is_named(tmp_path: Path) -> None:
    _index, req = make_project(tmp_path)
    with pytest.raises(ResolutionError, match=r"index .*nowhere does not exist"):
        lock_stage.lock(job_for(tmp_path, tmp_path / "nowhere", req))


@pytest.mark.subprocess
def test_unreachable_index_is_named(tmp_path: Path) -> None:
    _index, req = make_project(tmp_path)
    with socket.socket() as s:  # a loopback port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/simple"
    job = job_for(tmp_path, tmp_path, req, index_url=url, find_links=(), no_index=False)
    with pytest.raises(ResolutionError) as info:
        lock_stage.lock(job)
    assert f"could not reach the package index {url}" in str(info.value)
    assert not job.output.exists()


# --------------------------------------------------------------------------- package sources


def test_no_index_option_unless_one_is_named(tmp_path: Path) -> None:
    """Unset index_url: neither backend gets an index option; the installer's config rules."""
    job = LockJob(python="3.12", inputs_dir=tmp_path, output=tmp_path / "l.txt")
    assert LockSettings().index_url == ""
    for argv in (
        lock_backends.pip_tools_argv(job, ["piptools"], tmp_path / "o.txt", ["a.in"]),
        lock_backends.uv_argv(job, ["uv"], tmp_path / "o.txt", ["a.in"]),
    ):
        assert not {"--index-url", "--no-index", "--extra-index-url", "--find-links"} & set(argv)
    named = replace(job, index_url="http://127.0.0.1:1/simple")
    argv = lock_backends.uv_argv(named, ["uv"], tmp_path / "o.txt", ["a.in"])
    assert argv[argv.index("--index-url") + 1] == "http://127.0.0.1:1/simple"


def _without_uv_and_pip_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    from build_support import indexes

    for name in (*indexes.UV_SOURCE_VARS, *indexes.PIP_SOURCE_VARS):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.subprocess
def test_uv_takes_its_index_from_its_own_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, req = make_project(tmp_path)
    _without_uv_and_pip_sources(monkeypatch)
    monkeypatch.setenv("UV_OFFLINE", "1")  # the local folder only, no index
    monkeypatch.setenv("UV_FIND_LINKS", str(index))
    job = job_for(tmp_path, index, req, no_index=False, find_links=())
    assert lock_stage.lock(job).status == "written"
    text = job.output.read_text()
    assert "# index: uv's default index (no index configured) + 1 local find-links folder" in text
    assert "(from UV_FIND_LINKS)" in text
    assert str(tmp_path) not in text
    assert lockfile.pins(text)["lib"][0] == "1.0"
    # Another machine's index is provenance, not an input: no re-resolution, --check passes.
    monkeypatch.setenv("UV_DEFAULT_INDEX", "http://127.0.0.1:9/simple")
    assert lock_stage.lock(job).status == "skipped"
    assert lock_stage.lock(replace(job, check=True)).status == "checked"


@pytest.mark.subprocess
def test_uv_follows_pips_configuration_when_it_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, req = make_project(tmp_path)
    _without_uv_and_pip_sources(monkeypatch)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    job = job_for(tmp_path, index, req, no_index=False, find_links=())
    assert lock_stage.lock(job).status == "written"
    text = job.output.read_text()
    assert "# index: none (--no-index) + 1 local find-links folder" in text
    assert "(from PIP_FIND_LINKS, PIP_NO_INDEX)" in text
    assert lockfile.pins(text)["lib"][0] == "1.0"


@pytest.mark.subprocess
def test_a_named_index_replaces_the_installers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, req = make_project(tmp_path)
    _without_uv_and_pip_sources(monkeypatch)
    monkeypatch.setenv("UV_DEFAULT_INDEX", "http://127.0.0.1:9/simple")  # nothing listens
    job = job_for(tmp_path, index, req)  # --no-index --find-links INDEX
    assert lock_stage.lock(job).status == "written"
    assert "# index: none (--no-index) + 1 local find-links folder (from [tool" in (
        job.output.read_text()
    )


@pytest.mark.subprocess
def test_check_ignores_header_and_comments_but_not_hashes(tmp_path: Path) -> None:
    index, req = make_project(tmp_path)
    job = job_for(tmp_path, index, req)
    lock_stage.lock(job)
    text = job.output.read_text()
    bare = "".join(
        line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("#")
    )
    job.output.write_text("# compiled elsewhere, by hand\n" + bare)
    assert lock_stage.lock(replace(job, check=True)).status == "checked"
    (lib_hash,) = lockfile.pins(bare)["lib"][1]
    wrong = bare.replace(lib_hash, "sha256:" + "0" * 64)  # uv would keep a seeded hash
    job.output.write_text(wrong)
    with pytest.raises(StaleError, match=r"~lib==1.0 \(1 hash\): hashes differ"):
        lock_stage.lock(replace(job, check=True))
