"""``engine.find_by_digest`` / ``oldest_with_label`` when images sharing the label tie.

Real dockerd, images built here with BuildKit (``FROM scratch``, nothing pulled). Every
request goes through :class:`EngineRequestLog`, a real proxy in front of the engine's socket.
The engine lists images of the same creation second in no fixed order (a Go map), so each
lookup is repeated: a rule that leans on the list order fails within a few tries.
"""

from __future__ import annotations

import re
import tempfile
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from build_support.containers import engine
from build_support.containers.context import DIGEST_LABEL
from tests.helpers import EngineRequestLog, docker
from tests.publishing import docker_build

pytestmark = [pytest.mark.docker]

REPO = "build-support-test/tie"
TRIES = 8


@pytest.fixture
def logged_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, EngineRequestLog]]:
    """An SDK client whose every request goes through the request-counting proxy."""
    engine.ensure_docker()
    sock_dir = Path(tempfile.mkdtemp(prefix="engine-log.", dir="/tmp"))  # short socket path
    proxy = EngineRequestLog(sock_dir / "docker.sock")
    monkeypatch.setenv("DOCKER_HOST", proxy.host)
    client = engine.connect(30)
    yield client, proxy
    client.close()
    proxy.close()
    sock_dir.rmdir()


@pytest.fixture
def digest() -> Iterator[str]:
    """An input digest of this test only; its images are removed afterwards."""
    value = f"tie-{uuid.uuid4().hex}"
    yield value
    ids = docker("image", "ls", "-q", "--no-trunc", "--filter", f"label={DIGEST_LABEL}={value}")
    tags = docker("image", "ls", "-q", "--no-trunc", f"{REPO}:{value[:20]}")
    if ids or tags:
        docker("rmi", "-f", *sorted(set(ids.split() + tags.split())))


def _image(ctx: Path, dockerfile: str, files: dict[str, str]) -> str:
    ctx.mkdir(parents=True)
    for name, text in files.items():
        if name.endswith("/"):
            (ctx / name).mkdir()
        else:
            (ctx / name).write_text(text)
    return docker_build(ctx, dockerfile)


def _requests(proxy: EngineRequestLog) -> list[str]:
    """``METHOD /path`` of each request since the last call (API version and query dropped)."""
    out = []
    for line in proxy.take():
        method, _, target = line.partition(" ")
        path = urllib.parse.unquote(urllib.parse.urlsplit(target).path)
        out.append(f"{method} {re.sub(r'^/v[0-9.]+/', '/', path)}")
    return out


def test_the_ancestor_wins_over_descendants_tied_in_size_layers_and_time(
    tmp_path: Path, logged_engine: tuple[Any, EngineRequestLog], digest: str
) -> None:
    client, proxy = logged_engine
    ancestor = _image(tmp_path / "a", f"FROM scratch\nCOPY f /f\nLABEL {DIGEST_LABEL}={digest}\n",
                      {"f": "ancestor\n"})  # fmt: skip
    name = f"{REPO}:{digest[:20]}"  # BuildKit's FROM takes names, not IDs
    docker("tag", ancestor, name)
    metadata_only = [
        _image(tmp_path / f"m{i}", f"FROM {name}\n{step}\n", {})
        for i, step in enumerate(("ENV A=1", "USER 1000", "LABEL other=1"))
    ]
    empty_layer = _image(tmp_path / "e", f"FROM {name}\nCOPY e/ /e/\n", {"e/": ""})
    every = {ancestor, *metadata_only, empty_layer}
    assert len(every) == 5

    # The tie, as the engine reports it: one size for all five, one layer and the
    # ancestor's creation time for the metadata-only descendants.
    listed = client.api.images(filters={"label": f"{DIGEST_LABEL}={digest}"})
    assert {s["Id"] for s in listed} == every
    assert len({s["Size"] for s in listed}) == 1
    attrs = {i: client.images.get(i).attrs for i in every}
    assert {len(attrs[i]["RootFS"]["Layers"]) for i in [ancestor, *metadata_only]} == {1}
    assert len(attrs[empty_layer]["RootFS"]["Layers"]) == 2
    assert {attrs[i]["Created"] for i in [ancestor, *metadata_only]} == {attrs[ancestor]["Created"]}

    _requests(proxy)
    for _ in range(TRIES):
        found = engine.find_by_digest(client, digest)
        assert found is not None
        assert found.id == ancestor
        assert found.repo_tags == (name,)
        assert found.labels[DIGEST_LABEL] == digest
        # One list, an inspect per image tied in size, a history per image tied in layers.
        calls = _requests(proxy)
        assert calls.count("GET /images/json") == 1
        assert sorted(c for c in calls if c.endswith("/json") and c != "GET /images/json") == (
            sorted(f"GET /images/{i}/json" for i in every)
        )
        assert sorted(c for c in calls if c.endswith("/history")) == sorted(
            f"GET /images/{i}/history" for i in [ancestor, *metadata_only]
        )
        assert len(calls) == 1 + 5 + 4


def test_of_two_unrelated_builds_tied_in_everything_the_newest_wins(
    tmp_path: Path, logged_engine: tuple[Any, EngineRequestLog], digest: str
) -> None:
    """The same inputs built twice (``--force``): the later build, the one its run tagged."""
    client, _proxy = logged_engine
    dockerfile = f"FROM scratch\nCOPY f /f\nLABEL {DIGEST_LABEL}={digest}\n"
    first = _image(tmp_path / "1", dockerfile, {"f": "first\n"})
    second = _image(tmp_path / "2", dockerfile, {"f": "later\n"})
    listed = client.api.images(filters={"label": f"{DIGEST_LABEL}={digest}"})
    assert {s["Id"] for s in listed} == {first, second}
    assert len({s["Size"] for s in listed}) == 1
    created = {i: client.images.get(i).attrs["Created"] for i in (first, second)}
    assert engine.created_ns(created[first]) < engine.created_ns(created[second])
    for _ in range(TRIES):
        found = engine.find_by_digest(client, digest)
        assert found is not None
        assert found.id == second
