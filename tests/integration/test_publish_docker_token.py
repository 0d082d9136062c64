"""The publish stage's Docker target against a registry behind bearer-token auth.

Debian's docker-registry (distribution 2.8) with ``auth: token:`` on loopback, and a
real token service (``tests/tokenauth.py``: ``http.server`` issuing ES256 JWTs signed by
a key whose certificate is the registry's ``rootcertbundle``): the flow Docker Hub uses
(a 401 with ``WWW-Authenticate: Bearer realm=…,service=…,scope=…``, basic credentials to
the realm, the token back to the registry). Docker Hub itself is not reached.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_support import commits, config, store
from build_support.errors import PublishError
from build_support.publish.docker import DockerTarget
from build_support.publish.model import RunEnv
from build_support.publish.stage import settings_from
from tests.integration.test_publish_docker import (
    NS,
    _images,
    _remove_images,
    publish_and_pull_back,
)
from tests.publishing import REGISTRY_PASSWORD, Project, assert_no_secret, make_project
from tests.tokenauth import DENIED, TokenRegistry, token_registry

pytestmark = [pytest.mark.integration]
WRONG_PASSWORD = "wrong-s3cret-Planted-0c9e"


@pytest.fixture
def registry(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[TokenRegistry]:
    r = token_registry(tmp_path)
    r.tokens.start()
    try:
        r.start(login="docker" in request.keywords)  # docker login: through the token flow
        yield r
    finally:
        r.stop()
        r.tokens.stop()


def _project(tmp_path: Path, registry: TokenRegistry, password: str) -> Project:
    return make_project(tmp_path, registry.toml(NS, ["base-deps", "minray"]),
                        {"TEST_REGISTRY_USER": registry.username,
                         "TEST_REGISTRY_PASSWORD": password})  # fmt: skip


def _target(project: Project, work: Path) -> DockerTarget:
    """The stage's Docker target, built as the stage builds it (plan mode)."""
    cfg = config.load(project.root)
    env = RunEnv(cfg=cfg, settings=settings_from(cfg), ctx=commits.context(project.root),
                 store=store.open_store(cfg), workdir=work, execute=False,
                 env=project.env)  # fmt: skip
    return DockerTarget(env)


def test_lookup_follows_the_challenge_to_a_token(tmp_path: Path, registry: TokenRegistry) -> None:
    repo = f"{NS}/minray"
    config_blob = json.dumps({"architecture": "amd64", "os": "linux", "nonce": uuid.uuid4().hex,
                              "rootfs": {"type": "layers", "diff_ids": []}}).encode()  # fmt: skip
    uploaded = registry.upload(repo, "present", config_blob)
    assert uploaded == f"sha256:{hashlib.sha256(config_blob).hexdigest()}"
    before = len(registry.tokens.requests)
    target = _target(_project(tmp_path, registry, REGISTRY_PASSWORD), tmp_path / "work")
    try:
        assert target.remote_digest(f"{registry.host}/{repo}", "present") == uploaded
        assert target.remote_digest(f"{registry.host}/{repo}", "absent") is None
    finally:
        target.close()
    # Challenged first (the harness sends basic auth, which a token registry refuses), then
    # one token for the repository's pull scope, reused for the second lookup.
    assert registry.statuses("GET", f"/v2/{repo}/manifests/present") == [401, 200]
    assert registry.statuses("GET", f"/v2/{repo}/manifests/absent") == [404]
    asked = [(r.account, r.scopes, r.status) for r in registry.tokens.requests[before:]]
    assert asked == [("pusher", (f"repository:{repo}:pull",), 200)]


def test_an_expired_token_is_replaced(tmp_path: Path, registry: TokenRegistry) -> None:
    """Tokens whose ``exp`` is 54 s past: distribution's 60 s leeway keeps them good for
    about 6 s, then the registry refuses the cached one and the target asks again."""
    repo = f"{NS}/minray"
    uploaded = registry.upload(repo, "present", uuid.uuid4().bytes)
    registry.tokens.ttl = -54
    before = len(registry.tokens.requests)
    target = _target(_project(tmp_path, registry, REGISTRY_PASSWORD), tmp_path / "work")
    try:
        assert target.remote_digest(f"{registry.host}/{repo}", "present") == uploaded
        expired_at = time.time() - 54 + 60 + 1  # exp (whole seconds) + leeway, and a margin
        time.sleep(max(0.0, expired_at - time.time()))
        assert target.remote_digest(f"{registry.host}/{repo}", "present") == uploaded
    finally:
        target.close()
    assert registry.statuses("GET", f"/v2/{repo}/manifests/present") == [401, 200, 401, 200]
    assert [r.status for r in registry.tokens.requests[before:]] == [200, 200]


def test_wrong_password_names_the_token_service_answer_and_no_secret(
    tmp_path: Path, registry: TokenRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = f"{NS}/minray"
    target = _target(_project(tmp_path, registry, WRONG_PASSWORD), tmp_path / "work")
    try:
        with pytest.raises(PublishError) as caught:
            target.remote_digest(f"{registry.host}/{repo}", "present")
    finally:
        target.close()
    message = str(caught.value)
    assert f"token service {registry.tokens.realm} (scope repository:{repo}:pull)" in message
    assert f"answered 401: {json.dumps(DENIED)}" in message
    assert "$TEST_REGISTRY_PASSWORD" in message  # the hint names where the password came from
    assert [(r.account, r.status) for r in registry.tokens.requests] == [("pusher", 401)]
    out = capsys.readouterr()
    assert_no_secret([message, out.out, out.err], [WRONG_PASSWORD, REGISTRY_PASSWORD])


@pytest.mark.docker
def test_publish_through_the_token_flow_end_to_end(tmp_path: Path, registry: TokenRegistry) -> None:
    """``docker login``/``docker push`` by the engine and the harness's own lookups all go
    through the token service (an HTTP realm on loopback: dockerd 20.10 accepts it)."""
    project = _project(tmp_path, registry, REGISTRY_PASSWORD)
    project.pass_release_tests()
    try:
        base_id, product_id = _images(project, tmp_path, ("x86_64",))
        plan, run, again = publish_and_pull_back(project, registry, base_id, product_id)
        # The engine asked for push scopes, the harness for pull scopes, all as the user;
        # nothing reached the registry without a token (no htpasswd behind it).
        asked = {(r.account, s.rsplit(":", 1)[1], r.status) for r in registry.tokens.requests
                 for s in r.scopes}  # fmt: skip
        assert ("pusher", "push,pull", 200) in asked
        assert ("pusher", "pull", 200) in asked
        assert {a[0] for a in asked} == {"pusher"}
        puts = registry.requests("PUT")
        assert len([p for p in puts if "/manifests/sha256" not in p]) == 16  # the tags
        # each image's provenance and SBOM artifacts, and its referrers-tag-schema index
        assert len([p for p in puts if "/manifests/sha256:" in p]) == 4
        assert len([p for p in puts if "/manifests/sha256-" in p]) == 2
        issued = list(registry.tokens.issued)
        assert_no_secret([plan.stderr, plan.stdout, run.stderr, run.stdout, again.stderr,
                          json.dumps(project.journal()), json.dumps(project.plan())],
                         [REGISTRY_PASSWORD, *issued])  # fmt: skip
    finally:
        _remove_images(registry)


@pytest.mark.docker
def test_wrong_password_refuses_before_sending_with_the_answer(
    tmp_path: Path, registry: TokenRegistry
) -> None:
    """At the outermost command: the plan shows the token service's answer per item and
    ``--execute`` exits 16 (gate ``target-state``) without pushing or logging in."""
    project = _project(tmp_path, registry, WRONG_PASSWORD)
    project.pass_release_tests()
    before = len(registry.tokens.requests)  # the fixture's own docker login
    try:
        _images(project, tmp_path, ("x86_64",))
        plan = project.publish()
        assert plan.returncode == 0, plan.stderr
        reasons = {i["reason"] for i in project.plan()["items"]}
        assert all("answered 401" in r and DENIED["details"] in r for r in reasons), reasons
        run = project.publish("--execute")
        assert run.returncode == 16, run.stderr
        assert "gate(s) target-state" in run.stderr
        assert f"{registry.tokens.realm} (scope repository:{NS}/minray:pull)" in run.stderr
        assert DENIED["details"] in run.stderr
        assert registry.requests("PUT") == []
        assert {(r.account, r.status) for r in registry.tokens.requests[before:]} == {
            ("pusher", 401)
        }
        assert_no_secret([plan.stderr, plan.stdout, run.stderr, run.stdout,
                          json.dumps(project.plan())], [WRONG_PASSWORD])  # fmt: skip
    finally:
        _remove_images(registry)
