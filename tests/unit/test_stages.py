"""The stage table: one entry, seen by every consumer (cli, exit codes, tools, doctor,
config sections, the pipeline, the CI plan, the nox sessions)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nox.registry
import pytest

from build_support import cli, config, pipeline, provision, stages, tools
from build_support.ciplan import plan as ciplan
from build_support.ciplan.settings import CiPlanSettings
from build_support.errors import BuildSupportError, ConfigError, InputError
from build_support.nox import sessions

HERE = __name__
SEEN: list[tuple[list[str], int]] = []


@dataclass(frozen=True, kw_only=True)
class DummySettings:
    """``[tool.build_support.dummy]``."""

    answer: int = 0


def dummy_main(argv: list[str], cfg: config.Config) -> int:
    answer = cfg.section("dummy", DummySettings).answer
    SEEN.append((argv, answer))
    if argv == ["fail"]:
        raise InputError("the dummy stage was asked to fail")
    return 0


def dummy_exit_code(exc: BuildSupportError) -> int:
    return 40 + exc.exit_code


def dummy_pipeline(
    cfg: config.Config, host_tag: str, *, publish: bool, force: bool
) -> list[pipeline.Step]:
    return [pipeline.Step("dummy", "dummy", (host_tag,))]


def dummy_ci(b: ciplan.Builder) -> None:
    b.steps.append(
        b.make(
            "dummy",
            key="dummy",
            label="dummy",
            job="dummy",
            template=("nox", "-s", "dummy"),
            platform=b.default,
        )
    )


DUMMY = stages.Stage(
    name="dummy",
    entry=f"{HERE}:dummy_main",
    section="dummy",
    settings=f"{HERE}:DummySettings",
    tools=("git",),
    exit_scheme=f"{HERE}:dummy_exit_code",
    pipeline=f"{HERE}:dummy_pipeline",
    ci_group="dummy",
    ci=f"{HERE}:dummy_ci",
    groups=("ci",),
    session=stages.Session(doc="A stage that exists only in this test."),
)


@pytest.fixture
def dummy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setitem(stages.STAGES, "dummy", DUMMY)  # the one place
    (tmp_path / "pyproject.toml").write_text(
        '[tool.build_support]\npython_versions = ["3.12"]\n'
        'stages = ["wheel", "dummy"]\n'
        "[tool.build_support.dummy]\nanswer = 42\n"
    )
    monkeypatch.chdir(tmp_path)
    SEEN.clear()
    return tmp_path


def test_one_entry_is_seen_by_every_consumer(
    dummy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1-3. The CLI runs it with its section validated at load, and its exit-code scheme.
    assert cli.STAGES["dummy"] == f"{HERE}:dummy_main"
    assert cli.main(["dummy", "go"]) == 0
    assert cli.main(["dummy", "fail"]) == 40 + InputError.exit_code
    assert SEEN == [(["go"], 42), (["fail"], 42)]
    assert "(exit 46; harness class InputError)" in capsys.readouterr().err
    (dummy / "pyproject.toml").write_text(
        '[tool.build_support]\n[tool.build_support.dummy]\nanswer = "many"\n'
    )
    with pytest.raises(ConfigError, match=r"tool\.build_support\.dummy\.answer"):
        config.load(dummy)
    (dummy / "pyproject.toml").write_text('[tool.build_support]\nstages = ["dummy"]\n')
    cfg = config.load(dummy)

    # 4. Its tools: provisioning and the subprocess seam.
    assert tools.STAGES["dummy"] == ("git",)
    assert [t.name for t in tools.needs("dummy", machine="x86_64", system="Linux")] == ["git"]
    tools.check_declared("git", stage="dummy")
    with pytest.raises(tools.UndeclaredToolError):
        tools.check_declared("mvn", stage="dummy")

    # 5. doctor's default list (the ci group), rows read with nothing on PATH.
    monkeypatch.setenv("PATH", str(dummy))
    rows, _ = provision.report_rows(tools.GROUPS["ci"])
    assert next(r for r in rows if r[0] == "dummy")[:3] == ["dummy", "git", "MISSING"]

    # 6. The pipeline, only the stages the project has.
    assert [(s.name, s.argv) for s in pipeline.steps(cfg, "manylinux2014_x86_64")] == [
        ("dummy", ("manylinux2014_x86_64",))
    ]

    # 7. The CI plan: a built-in group, before the final publish step, which depends on it.
    steps = ciplan.build_steps(cfg, cfg.section("ciplan", CiPlanSettings))
    keys = [s.key for s in steps]
    assert keys.index("dummy") == len(keys) - 2
    assert keys[-1] == "publish"
    assert "dummy" in steps[-1].depends_on

    # 8. nox: a session, with its docstring, in nox's registry.
    monkeypatch.setattr(nox.registry, "_REGISTRY", {})
    made = sessions.register(dummy, ["3.12"])
    assert made["dummy"].__doc__ == "A stage that exists only in this test."
    assert "dummy" in nox.registry.get()


def test_an_unknown_stage_in_the_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.build_support]\nstages = ["wheels"]\n')
    with pytest.raises(ConfigError, match="'wheels', which is not a stage") as info:
        config.load(tmp_path)
    assert "wheel" in (info.value.hint or "")


def test_the_table_and_its_readers_agree() -> None:
    assert list(cli.STAGES) == list(stages.STAGES)
    for stage in stages.STAGES.values():
        assert stage.name in tools.STAGES
        if stage.section:
            assert config.SECTIONS[stage.section] == stage.settings
    assert tools.GROUPS["pipeline"] == ("lock", "wheel", "jars", "images", "release-tests")
    assert stages.pipeline_stages()[-1] == "publish"
    assert stages.ci_groups() == ("lock", "wheel", "jars", "images", "release_tests", "publish")
