"""Two publishes of one commit at once (issue 18, item 8): ``--execute`` holds the
commit's lock in the store, so every Maven file is PUT once and no journal record is lost;
a second run waits, saying for whom, or with ``--no-wait`` exits 12. For the local store
and for S3 (moto_server: a conditional put, ``If-None-Match: *``), with real
``python -m build_support publish --execute`` processes and Apache httpd + mod_dav."""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from build_support import store as store_mod
from build_support.store import keys
from tests.integration.conftest import S3Endpoint
from tests.integration.test_publish_maven import project  # noqa: F401 - fixture
from tests.publishing import ApacheDav, Project, store_java

pytestmark = pytest.mark.integration


def _store_for(backend: str, proj: Project, request: pytest.FixtureRequest) -> store_mod.Store:
    """The store the publishes use: the project's own folder, or an S3 bucket holding a
    copy of it (``BUILD_SUPPORT_STORE`` points the stage there)."""
    if backend == "local":
        return proj.store
    endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
    bucket: str = request.getfixturevalue("s3_bucket")
    url = f"s3://{bucket}/ci"
    proj.env.update({k: os.environ[k] for k in os.environ if k.startswith("AWS_")})
    proj.env.update(AWS_ENDPOINT_URL=endpoint.url, BUILD_SUPPORT_STORE=url)
    s3 = store_mod.open_url(url)
    for obj in proj.store.list():
        s3.put(obj.key, proj.store.root / obj.key)
    return s3


def _sent(server: ApacheDav) -> Counter[str]:
    """How often each path was written (a 401 before the authenticated PUT is not)."""
    return Counter(line.split()[1] for line in server.puts() if line.endswith((" 201", " 204")))


def _wait_for(path: Path, text: str, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        assert proc.poll() is None, path.read_text()
        assert time.monotonic() < deadline, path.read_text()
        time.sleep(0.05)


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_two_publishes_at_once_send_each_file_once(
    backend: str,
    project: Project,  # noqa: F811
    dav: ApacheDav,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    names = store_java(project)
    store = _store_for(backend, project, request)
    lock = keys.publish_lock_key(project.sha)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]

    # A lock held by a live process (this test): a publish waits and says for whom; one
    # with --no-wait exits 12 at once; neither sends anything meanwhile.
    with store.lease(lock, what="the test's hold"):
        with logs[0].open("w") as out:
            waiting = project.spawn("--execute", stdout=out)
        _wait_for(logs[0], f"waiting for the lock {lock}", waiting)
        assert "held by the test's hold (pid " in logs[0].read_text()
        refused = project.publish("--execute", "--no-wait")
        assert refused.returncode == 12, refused.stderr[-3000:]
        assert f"{lock} in {store.url} is held by the test's hold" in refused.stderr
        assert "rerun without --no-wait" in refused.stderr
        assert _sent(dav) == Counter()
    assert waiting.wait(300) == 0, logs[0].read_text()[-3000:]
    assert not store.exists(lock)
    first = _sent(dav)
    assert len(first) >= len(names) * 5, first  # each file, .asc and checksums
    assert set(first.values()) == {1}, first

    # Two real publishes started together (a newer version, so both have work to do): one
    # sends, the other waits for it and then finds everything there.
    store_java(project, "0.2.0")
    if backend == "s3":
        for obj in project.store.list():
            store.put(obj.key, project.store.root / obj.key)
    planned = project.publish()  # --execute sends only what the reviewed plan lists
    assert planned.returncode == 0, planned.stderr[-3000:]
    procs = []
    for log in logs:
        with log.open("w") as out:
            procs.append(project.spawn("--execute", stdout=out))
    codes = [p.wait(300) for p in procs]
    outs = [log.read_text() for log in logs]
    assert codes == [0, 0], [o[-3000:] for o in outs]
    puts = _sent(dav)
    new = {p: n for p, n in puts.items() if "/0.2.0/" in p}
    assert len(new) >= len(names) * 5, new
    assert set(new.values()) == {1}, new
    metadata = {p: n for p, n in puts.items() if "/maven-metadata.xml" in p}
    assert metadata, puts
    assert set(metadata.values()) == {2}, metadata  # once per version
    assert sum("nothing to do" in o for o in outs) == 1, outs
    journal = store_mod.open_url(store.url)
    assert not journal.exists(lock)
    entries = project.journal()["entries"] if backend == "local" else None
    if entries is not None:
        assert {e["name"] for e in entries.values()} >= set(names)
