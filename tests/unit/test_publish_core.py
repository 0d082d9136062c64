"""The publish core: gates, decisions, the journal, credentials, settings, the simple API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from build_support import commits, config, manifests, pipeline
from build_support.errors import ConfigError, GateError, UsageError
from build_support.publish import credentials, gates, stage
from build_support.publish.journal import Journal, journal_key
from build_support.publish.model import Action, Artifact, Remote, decide
from build_support.publish.pypi import parse_simple
from build_support.publish.settings import PublishSettings
from build_support.store import LocalStore

SHA = "a" * 40


def _artifact(digest: str = "1" * 64, commit: str = SHA) -> Artifact:
    name = "m-1.0-py3-none-any.whl"
    return Artifact(target="pypi", name=name, digest=digest, size=1, commit=commit,
                    version="1.0", destination=f"idx:m/{name}")  # fmt: skip


def test_decide_send_skip_conflict_unknown_and_moving() -> None:
    a = _artifact()
    assert decide(a, Remote(present=False)).action is Action.SEND
    assert decide(a, Remote(present=True, digest=a.digest)).action is Action.SKIP
    conflict = decide(a, Remote(present=True, digest="2" * 64))
    assert conflict.action is Action.CONFLICT
    assert "2" * 64 in conflict.reason
    assert a.digest in conflict.reason
    assert decide(a, Remote(present=False, error="down")).action is Action.UNKNOWN
    assert decide(a, Remote(present=True, digest="2" * 64), mutable=True).action is Action.SEND


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({}, False),
        ({"BUILDKITE_PULL_REQUEST": "false"}, False),
        ({"BUILDKITE_PULL_REQUEST": "123"}, True),
        ({"GITHUB_EVENT_NAME": "pull_request"}, True),
        ({"GITHUB_EVENT_NAME": "pull_request_target"}, True),
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main"}, False),
        ({"GITHUB_REF": "refs/pull/7/merge"}, True),
    ],
)
def test_pull_request_gate(env: dict[str, str], refused: bool) -> None:
    pr = commits.pull_request(env)
    ctx = commits.BuildContext(branch="main", sha=SHA, pr_number=pr.number if pr else None,
                               dirty=False, pr_evidence=pr.evidence if pr else "")  # fmt: skip
    failures = gates.pull_request_gate(ctx)
    assert bool(failures) is refused
    assert all(f.gate == "pull-request" for f in failures)


def test_branch_and_commit_gates(tmp_path: Path) -> None:
    [f] = gates.branch_gate(tmp_path, "feature/x", "main", remote="origin")
    assert "feature/x" in str(f)
    assert f.gate == "branch"
    [f] = gates.commit_gate([_artifact(), _artifact(commit="b" * 40)], SHA)
    assert f.gate == "commit"
    assert "b" * 40 in f.message


def test_planned_gate_names_both_digests_and_unplanned_artifacts(tmp_path: Path) -> None:
    a = _artifact()
    where = tmp_path / "plan.json"
    assert gates.planned_gate([a], {(a.target, a.name, a.destination): a.digest}, where) == []
    [f] = gates.planned_gate([a], {(a.target, a.name, a.destination): "2" * 64}, where)
    assert f.gate == "plan"
    assert a.digest in f.message
    assert "2" * 64 in f.message
    [f] = gates.planned_gate([a], {}, where)
    assert "not in the plan" in f.message


def test_refuse_is_a_gate_error_naming_every_gate() -> None:
    err = gates.refuse([gates.Failure("branch", "x"), gates.Failure("versions", "y")])
    assert isinstance(err, GateError)
    assert err.exit_code == 16
    assert "gate(s) branch, versions" in str(err)


def test_journal_roundtrip_in_the_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    j = Journal.load(store, SHA, "main")
    j.record("d1 dest", "pending", target="pypi", name="f.whl")
    assert store.exists(journal_key(SHA))
    j.record("d1 dest", "done", target="pypi", name="f.whl")
    again = Journal.load(store, SHA, "main")
    assert again.state("d1 dest") == "done"
    assert [h.split()[1] for h in again.entries["d1 dest"]["history"]] == ["pending", "done"]
    assert not list((tmp_path / "store" / "publish" / SHA).glob(".*"))  # no temporaries left


def test_a_pending_entry_found_on_its_target_is_resolved(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    j = Journal.load(store, SHA, "main")
    j.record("d1 dest", "pending", target="pypi", name="f.whl")
    j.record("d2 dest", "done", target="pypi", name="g.whl")
    assert j.mark_present("d1 dest", target="pypi", name="f.whl", destination="https://x.invalid/")
    assert not j.mark_present("d2 dest", target="pypi", name="g.whl", destination="x")
    assert not j.mark_present("d1 dest", target="pypi", name="f.whl", destination="x")
    j.write()
    again = Journal.load(store, SHA, "main")
    assert (again.state("d1 dest"), again.state("d2 dest")) == ("skipped", "done")
    assert again.entries["d1 dest"]["history"][-1].endswith("skipped (found on the target)")


def test_credentials_from_env_or_file_are_scrubbed(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("file-secret-value-123\n")
    s = credentials.read(env_var="X_TOKEN", file="token", what="token", root=tmp_path, env={})
    assert s is not None
    assert s.value == "file-secret-value-123"
    assert "file-secret" not in repr(s)
    assert "file-secret" not in str(s)
    assert credentials.scrub("x file-secret-value-123 y") == f"x {credentials.MASK} y"
    s = credentials.read(env_var="X_TOKEN", file="token", what="token", root=tmp_path,
                         env={"X_TOKEN": "env-secret-value-456"})  # fmt: skip
    assert s is not None
    assert s.value == "env-secret-value-456"
    with pytest.raises(ConfigError, match=r"no token: \$X_TOKEN is empty"):
        credentials.read(env_var="X_TOKEN", file="", what="token", root=tmp_path, env={})
    assert credentials.read(env_var="X", file="", what="t", root=tmp_path, env={},
                            required=False) is None  # fmt: skip
    with pytest.raises(ConfigError, match="cannot read the token"):
        credentials.read(env_var="", file="missing", what="token", root=tmp_path, env={})


def test_settings_are_validated(tmp_path: Path) -> None:
    cfg = config.from_table({"publish": {"pypi": {"index_url": "https://example.com/simple/"},
                                         "targets": ["pypi"]}}, tmp_path)  # fmt: skip
    s = cfg.section("publish", PublishSettings)
    assert s.pypi.index_url == "https://example.com/simple/"
    assert s.targets == ("pypi",)
    with pytest.raises(ConfigError, match="not an http"):
        config.from_table({"publish": {"pypi": {"index_url": "example.com"}}}, tmp_path)
    with pytest.raises(ConfigError, match="targets"):
        config.from_table({"publish": {"targets": ["npm"]}}, tmp_path)
    with pytest.raises(ConfigError, match="host"):
        config.from_table({"publish": {"docker": {"registry": "https://r.example.com"}}}, tmp_path)


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"maven": {"release_url": "file:///srv/maven"}}, "'file:///srv/maven' is not an http"),
        ({"maven": {"snapshot_url": "https://u:tok@repo.example.com/s"}}, "credentials in it"),
        ({"pypi": {"repository_url": "https://__token__:pypi-x@up.example.com/"}}, "credentials"),
        ({"docker": {"api_url": "ftp://r.example.com"}}, "docker.api_url"),
        ({"maven": {"portal_url": "https://"}}, "with a host"),
        ({"remote": "--upload-pack=x"}, "not a git remote name"),
    ],
)
def test_publish_urls_are_http_without_credentials(
    tmp_path: Path, table: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        config.from_table({"publish": table}, tmp_path)
    assert info.value.exit_code == 2
    assert "tok@" not in str(info.value)
    assert "pypi-x" not in str(info.value)


def test_simple_api_html_and_json() -> None:
    html = (
        '<html><body><a href="../../packages/m-1.0-py3-none-any.whl#sha256=ABCDEF">'
        'm-1.0-py3-none-any.whl</a><a href="/p/m-1.1.tar.gz">m-1.1.tar.gz</a></body></html>'
    )
    files = parse_simple(html, "text/html", "http://127.0.0.1:1/simple/m/")
    assert files["m-1.0-py3-none-any.whl"] == (
        "abcdef",
        "http://127.0.0.1:1/packages/m-1.0-py3-none-any.whl",
    )
    assert files["m-1.1.tar.gz"] == (None, "http://127.0.0.1:1/p/m-1.1.tar.gz")
    body = json.dumps({"files": [{"filename": "m-1.0.whl", "url": "f/m-1.0.whl",
                                  "hashes": {"sha256": "00ff"}}]})  # fmt: skip
    files = parse_simple(body, "application/vnd.pypi.simple.v1+json", "https://example.com/s/m/")
    assert files == {"m-1.0.whl": ("00ff", "https://example.com/s/m/f/m-1.0.whl")}


def test_pipeline_publishes_in_plan_mode_unless_asked(tmp_path: Path) -> None:
    cfg = config.from_table({}, tmp_path)
    last = pipeline.steps(cfg, "manylinux2014_x86_64")[-1]
    assert (last.name, last.stage, last.argv) == ("publish", "publish", ())
    last = pipeline.steps(cfg, "manylinux2014_x86_64", publish=True)[-1]
    assert last.argv == ("--execute",)


def test_unknown_target_is_a_usage_error(tmp_path: Path) -> None:
    cfg = config.from_table({}, tmp_path)
    with pytest.raises(UsageError, match="unknown publish target 'npm'"):
        stage.main(["npm"], cfg)


def test_publish_is_a_reserved_top_level_key() -> None:
    from build_support.store import keys

    assert keys.publish_journal_key(SHA) == f"publish/{SHA}/journal.json"
    with pytest.raises(UsageError, match="reserved"):
        keys.wheel_key("publish", SHA, "m-1.0-py3-none-any.whl")


def test_docker_tags_naming_the_commit_are_immutable() -> None:
    from build_support.publish.docker import is_immutable, list_digest

    sha = "abcdef" + "0" * 34
    assert is_immutable("nightly.261126.abcdef-py311-cpu", sha)
    assert is_immutable("2.1.abcdef", sha)
    assert not is_immutable("nightly", sha)
    assert not is_immutable("nightly-py311-cpu", sha)
    assert list_digest(["sha256:b", "sha256:a"]) == list_digest(["sha256:a", "sha256:b"])


def _image_row(name: str, arch: str, flavor: str = "cpu") -> manifests.ImageRow:
    return manifests.ImageRow(
        name=name, image_id=f"sha256:{name}-{arch}-{flavor}", refs=(f"ns/{name}:{arch}",),
        built=True, input_digest="d" * 64, commit=SHA, python="3.11", flavor=flavor, arch=arch,
        base="scratch")  # fmt: skip


@pytest.mark.parametrize("images", [None, [], ["minray"], ["base-deps", "minray", "extra"]])
def test_docker_images_empty_means_every_image_in_images_json(
    tmp_path: Path, images: list[str] | None
) -> None:
    """``[tool.build_support.publish.docker] images``: empty (or unset) publishes every
    row of the images.json the images stage wrote, whatever its name; a list, its names."""
    from build_support.publish.docker import recorded_images

    rows = (_image_row("base-deps", "x86_64"), _image_row("minray", "x86_64"),
            _image_row("minray", "aarch64"), _image_row("minray", "x86_64", "gpu"),
            _image_row("extra", "x86_64"))  # fmt: skip
    cfg = config.from_table({}, tmp_path)
    path = manifests.write(manifests.images_path(cfg.path("dist")),
                           manifests.ImagesManifest(images=rows))  # fmt: skip
    table = {} if images is None else {"publish": {"docker": {"images": images}}}
    wanted = config.from_table(table, tmp_path).section("publish", PublishSettings).docker.images
    picked = recorded_images(path, wanted)
    if not images:
        assert wanted == ()
        assert picked == list(rows)
    else:
        assert picked == [r for r in rows if r.name in images]
        assert {r.name for r in picked} == set(images)


def test_docker_images_none_recorded(tmp_path: Path) -> None:
    from build_support.errors import ArtifactNotFoundError
    from build_support.publish.docker import recorded_images

    path = manifests.write(tmp_path / "images.json", manifests.ImagesManifest(images=()))
    with pytest.raises(ArtifactNotFoundError, match=r"lists none of the images \(any\)"):
        recorded_images(path, ())
    one = manifests.ImagesManifest(images=(_image_row("minray", "x86_64"),))
    only = manifests.write(tmp_path / "one.json", one)
    with pytest.raises(ArtifactNotFoundError, match="lists none of the images base-deps"):
        recorded_images(only, ("base-deps",))
    # a name asked for and not built fails, even when another name matches: a typo must
    # not make a smaller release
    with pytest.raises(ArtifactNotFoundError, match=r"images minray-gpu \(it lists minray\)"):
        recorded_images(only, ("minray", "minray-gpu"))


def test_a_journal_broken_by_a_kill_falls_back_to_its_copy(tmp_path: Path) -> None:
    from build_support.publish.journal import backup_key

    store = LocalStore(tmp_path / "store")
    j = Journal.load(store, SHA, "main")
    j.record("d1 dest", "done", target="pypi", name="f.whl")
    assert store.exists(backup_key(SHA))
    # A SIGKILL between the store's two renames: the checksum no longer matches the object.
    sidecar = tmp_path / "store" / "publish" / SHA / "journal.json.sha256"
    sidecar.write_text("0" * 64 + "  journal.json\n")
    again = Journal.load(store, SHA, "main")
    assert again.state("d1 dest") == "done"
    (tmp_path / "store" / "publish" / SHA / "journal.prev.json").write_text("{broken")
    assert Journal.load(store, SHA, "main").entries == {}


def test_publish_docs_list_the_real_exit_codes() -> None:
    """docs/publish.md's exit-code table is the code's: the commit check exits 13."""
    from build_support import errors

    text = (Path(__file__).resolve().parents[2] / "docs" / "publish.md").read_text()
    section = text[text.index("## Exit codes\n") :]
    section = section[: section.index("\n## ", 1)]
    rows = {
        int(line.split("|")[1]): line
        for line in section.splitlines()
        if line.startswith("| ") and line.split("|")[1].strip().isdigit()
    }
    codes = {
        cls.exit_code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.BuildSupportError)
    }
    assert set(rows) - {0} <= codes
    assert errors.VerificationError.exit_code == 13
    assert "expected_commit" in rows[13]
    assert errors.GateError.exit_code == 16
    for gate in ("branch", "pull-request", "clean-tree", "commit", "content", "plan"):
        assert f"`{gate}`" in rows[16]
    assert errors.FileSystemError.exit_code == 19
    assert "symbolic link" in rows[19]


def test_read_plan_is_this_commits_plan_or_none_and_unreadable_is_an_error(
    tmp_path: Path,
) -> None:
    from build_support.errors import InputError

    path = tmp_path / "plan.json"
    assert stage.read_plan(path, SHA) is None
    item = {"target": "pypi", "artifact": "a.whl", "destination": "idx:a", "sha256": "1" * 64}
    path.write_text(json.dumps({"commit": SHA, "items": [item]}))
    assert stage.read_plan(path, SHA) == {("pypi", "a.whl", "idx:a"): "1" * 64}
    assert stage.read_plan(path, "b" * 40) is None  # another commit's plan
    path.write_text(json.dumps({"items": [item]}))
    assert stage.read_plan(path, SHA) is None  # a plan from before plans named their commit
    path.write_text('{"commit": "' + SHA + '", "items": [{"target": "pypi"}]}')
    with pytest.raises(InputError, match="cannot be read") as info:
        stage.read_plan(path, SHA)
    assert info.value.exit_code == 6


def test_planned_gate_looks_names_up_as_the_scrubbed_plan_wrote_them(tmp_path: Path) -> None:
    """A registered secret inside a destination (a namespace equal to a login) is masked in
    plan.json; the gate masks the live name the same way instead of missing it."""
    secret = "ns-equals-login-7c1f"  # unique: registering it hides nothing else
    credentials.register(secret)
    a = Artifact(target="docker", name="minray:t", digest="1" * 64, size=0, commit=SHA,
                 version="1", destination=f"r.example.com/{secret}/minray:t")  # fmt: skip
    planned = {("docker", "minray:t", credentials.scrub(a.destination)): a.digest}
    assert secret not in next(iter(planned))[2]
    assert gates.planned_gate([a], planned, tmp_path / "plan.json") == []
