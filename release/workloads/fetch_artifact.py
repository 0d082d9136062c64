"""Prepare step: fetch this commit's JAR from the artifact store (run by the harness's Python).

    $BUILD_SUPPORT_PYTHON fetch_artifact.py jar <os> <filename>

The file lands in ``$RELEASE_RESULTS_DIR`` (the attempt's scratch folder, never the
source tree). Exits 12 (Ray's SETUP_ERROR, an infra error) when the artifact is not in the store,
naming the key and the stage that produces it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SETUP_ERROR = 12


def main() -> int:
    kind, os_name, filename = sys.argv[1:4]
    if kind != "jar":
        print(f"unknown artifact kind {kind!r}", file=sys.stderr)
        return SETUP_ERROR
    root = os.environ.get("BUILD_SUPPORT_ROOT")
    url = os.environ.get("BUILD_SUPPORT_STORE")
    if not root or not url:
        print(
            "BUILD_SUPPORT_ROOT/BUILD_SUPPORT_STORE are not set: no artifact store to "
            "fetch from (run via nox -s release-tests without --wheel)",
            file=sys.stderr,
        )
        return SETUP_ERROR
    sys.path.insert(0, root)
    from build_support import store
    from build_support.errors import BuildSupportError

    branch, sha = os.environ["BUILD_SUPPORT_BRANCH"], os.environ["BUILD_SUPPORT_COMMIT"]
    try:
        key = store.keys.jar_key(branch, sha, os_name, filename)
        s = store.open_url(url, root=Path(root))
        if not s.exists(key):
            print(
                f"infra error: {key} is not in the store {url}; build it with "
                f"`nox -s jars -- linux` then `nox -s jars -- {os_name}`",
                file=sys.stderr,
            )
            return SETUP_ERROR
        dest = Path(os.environ.get("RELEASE_RESULTS_DIR") or Path.cwd())
        s.get(key, dest / filename)
    except BuildSupportError as exc:
        print(f"infra error: fetching {key}: {exc}", file=sys.stderr)
        return SETUP_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
