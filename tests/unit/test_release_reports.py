"""Reports: JUnit XML with retries visible, JSON summary, self-contained HTML; selection."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from build_support import lockfile, manifests, wheelfile
from build_support.errors import UsageError, VerificationError
from build_support.releasetests import loader, reports
from build_support.releasetests.cli import select
from build_support.releasetests.environments import check_commit
from build_support.releasetests.exitcodes import ResultStatus
from build_support.releasetests.results import AttemptResult, ReleaseTestResult
from build_support.releasetests.runner import missing_scripts

ROOT = Path(__file__).resolve().parents[2]


def _result(name: str, codes: list[tuple[int, str]]) -> ReleaseTestResult:
    r = ReleaseTestResult(
        name=name, group="g", team="t", frequency="nightly", python="3.12", smoke=True
    )
    for i, (code, status) in enumerate(codes, start=1):
        r.attempts.append(
            AttemptResult(
                attempt=i,
                exit_code=code,
                status=ResultStatus(status),
                retryable=code == 30,
                duration=1.5 * i,
                message=f"m{i}",
                directory=f"/r/{name}/attempt-{i}",
            )
        )
    return r


RESULTS = [
    _result("ok", [(0, "success")]),
    _result("flaky", [(30, "transient_infra_error"), (0, "success")]),
    _result("broken", [(40, "error")]),
    _result("hung", [(42, "timeout")]),
]


def test_junit_one_case_per_test_and_retries_visible() -> None:
    root = ET.fromstring(reports.junit_xml(RESULTS))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["ok", "flaky", "broken", "hung"]
    assert suite.get("failures") == "1"
    assert suite.get("errors") == "1"
    flaky = cases[1]
    props = {p.get("name"): p.get("value") for p in flaky.iter("property")}
    assert props["attempts"] == "2"
    assert props["attempt.1"] is not None
    assert props["attempt.1"].startswith("transient_infra_error exit=30")
    assert flaky.find("flakyFailure") is not None
    assert flaky.find("failure") is None
    assert cases[2].find("failure") is not None
    assert cases[3].find("error") is not None
    assert "attempt 2" in (flaky.findtext("system-out") or "")


def test_summary_counts() -> None:
    s = reports.summary(RESULTS, {"run_id": "r"})
    assert (s["total"], s["passed"], s["failed"], s["flaky"]) == (4, 2, 2, 1)
    assert s["tests"][1]["attempts"][0]["exit_code"] == 30
    assert s["run_id"] == "r"


def test_html_is_self_contained(tmp_path: Path) -> None:
    paths = reports.write_reports(RESULTS, {"run_id": "r", "exit_code": 40}, tmp_path)
    text = paths["html"].read_text()
    assert text.count('class="test-row"') == 4
    assert text.count('class="bar"') == 5  # one bar per attempt
    assert "<svg" in text
    for external in ("http://", "https://", "src=", "<link"):
        assert external not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    data = json.loads(paths["summary"].read_text())
    assert data["exit_code"] == 40
    ET.parse(paths["junit"])


def test_select_names_globs_frequency() -> None:
    tests = loader.load(ROOT / "release" / "release_tests.yaml").tests
    assert [t.name for t in select(tests, ["wheel_commit"], None)] == ["wheel_commit"]
    assert {t.name for t in select(tests, ["checksum_*"], None)} == {
        "checksum_agreement.small",
        "checksum_agreement.large",
    }
    weekly = select(tests, [], "weekly")
    assert weekly
    assert all(t.frequency == "weekly" for t in weekly)
    assert len(select(tests, [], None)) == len(tests)


def test_select_unknown_lists_close_matches() -> None:
    tests = loader.load(ROOT / "release" / "release_tests.yaml").tests
    with pytest.raises(UsageError) as info:
        select(tests, ["wheel_comit"], None)
    assert "wheel_commit" in str(info.value)


def test_missing_scripts(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("")
    assert missing_scripts("python a.py --x 1", tmp_path) == []
    assert missing_scripts("python b.py", tmp_path) == ["b.py"]
    assert missing_scripts("$PY fetch.sh", tmp_path) == ["fetch.sh"]
    assert missing_scripts("python $DIR/x.py", tmp_path) == []


def test_nohash_constraints(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text(
        "# comment\n--index-url https://x.example\nfoo[bar]==1.0 \\\n    --hash=sha256:abc\n"
        "baz==2.0 ; python_version < '3.11' \\\n    --hash=sha256:def\n"
    )
    out = lockfile.constraints(lock.read_text())
    # extras dropped (pip refuses them in constraints), environment markers kept
    assert out == 'foo==1.0\nbaz==2.0 ; python_version < "3.11"\n'


def test_wheel_commit_read_from_zip(tmp_path: Path) -> None:
    wheel = tmp_path / "minray-0.1.0-cp312-cp312-manylinux2014_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("minray/_version.py", 'version = "0.1.0"\ncommit = "' + "a" * 40 + '"\n')
    assert wheelfile.read_commit(wheel, "minray") == "a" * 40
    with pytest.raises(VerificationError, match="cannot read"):
        wheelfile.read_commit(wheel, "other")
    # One reader (wheelfile's): a commit line inside a docstring is not the commit.
    tricky = tmp_path / "minray-0.1.0-cp311-cp311-manylinux2014_x86_64.whl"
    with zipfile.ZipFile(tricky, "w") as zf:
        zf.writestr(
            "minray/_version.py",
            '"""\ncommit = "' + "b" * 40 + '"\n"""\ncommit = "' + "a" * 40 + '"\n',
        )
    assert wheelfile.read_commit(tricky, "minray") == "a" * 40
    with pytest.raises(VerificationError, match="working tree is left as it is"):
        check_commit("{{COMMIT_SHA}}", "a" * 40, what="wheel")


def test_image_manifest_lookup(tmp_path: Path) -> None:
    from build_support.errors import ArtifactNotFoundError
    from build_support.releasetests.environments import ImageProvider

    manifest = tmp_path / "images.json"
    provider = ImageProvider(
        manifest=manifest, image_name="minray", expected_commit="a" * 40, package="minray",
        arch="x86_64",
    )  # fmt: skip
    with pytest.raises(ArtifactNotFoundError, match="nox -s images"):
        provider.find("3.12")

    def row(name: str, ref: str, image_id: str) -> manifests.ImageRow:
        return manifests.ImageRow(
            name=name, refs=(ref,), image_id=image_id, python="3.12", flavor="cpu",
            arch="x86_64", commit="a" * 40, built=True, input_digest="d", base="ubuntu:22.04",
        )  # fmt: skip

    manifests.write(
        manifest,
        manifests.ImagesManifest(
            images=(
                row("base-deps", "ns/base-deps:x", "sha256:b"),
                row("minray", "ns/minray:x-py312-cpu", "sha256:m"),
            )
        ),
    )
    assert provider.find("3.12") == ("sha256:m", "a" * 40)
    with pytest.raises(ArtifactNotFoundError, match=r"Python 3\.11"):
        provider.find("3.11")


@pytest.mark.parametrize(
    ("filename", "ok"),
    [
        ("minray-0.1.0-cp312-cp312-manylinux2014_x86_64.whl", True),
        ("minray-0.1.0-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", True),
        ("minray-0.1.0-1-cp312-cp312-manylinux2014_x86_64.whl", True),
        ("minray_cpp-0.1.0-cp312-cp312-manylinux2014_x86_64.whl", False),
        ("minray-0.1.0-cp311-cp311-manylinux2014_x86_64.whl", False),
        ("minray-0.1.0-cp312-cp312-manylinux2014_aarch64.whl", False),
        ("minray-0.1.0.tar.gz", False),
    ],
)
def test_wheel_matches(filename: str, ok: bool) -> None:
    assert (
        wheelfile.matches(filename, "minray", python="3.12", platform="manylinux2014_x86_64") is ok
    )
