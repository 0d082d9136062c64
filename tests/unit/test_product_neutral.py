"""The harness names no bundled product: minray is config (pyproject.toml), never code.

Another project (docs/onboarding.md) uses the same stages; a name of minray's in
``build_support/`` (a Maven property, a manifest entry, a Dockerfile folder, a build
argument, a default) would leak into that project's artifacts or make it rename its
own. Every minray value lives in ``[tool.build_support.*]`` of this repository's
pyproject.toml.
"""

from __future__ import annotations

import re
from pathlib import Path

from build_support import config
from build_support.images.settings import ImagesSettings
from build_support.jars.settings import JarsSettings
from build_support.releasetests.settings import ReleaseTestsSettings

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = re.compile("minray", re.IGNORECASE)


def product_mentions(tree: Path) -> list[str]:
    """``path:line: text`` of every line under ``tree`` that names the product."""
    found: list[str] = []
    for path in sorted(p for p in tree.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        text = path.read_bytes().decode("utf-8", errors="replace")
        if PRODUCT.search(path.relative_to(tree).as_posix()):
            found.append(f"{path.relative_to(tree).as_posix()}: (name)")
        for n, line in enumerate(text.splitlines(), 1):
            if PRODUCT.search(line):
                found.append(f"{path.relative_to(tree)}:{n}: {line.strip()}")
    return found


def test_build_support_names_no_product() -> None:
    mentions = product_mentions(ROOT / "build_support")
    assert mentions == [], "move these to [tool.build_support.*] config:\n" + "\n".join(mentions)


def test_the_scan_finds_a_planted_name(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text('X = 1\nPROPERTY = "-DMinRay.commit"\n')
    (tmp_path / "pkg" / "minray_names.txt").write_text("neutral\n")
    assert product_mentions(tmp_path) == [
        'pkg/a.py:2: PROPERTY = "-DMinRay.commit"',
        "pkg/minray_names.txt: (name)",
    ]


def test_the_bundled_products_names_are_config() -> None:
    cfg = config.load(ROOT)
    images = cfg.section("images", ImagesSettings)
    images.require_product()
    assert (images.image_name, images.smoke_module) == ("minray", "minray")
    jars = cfg.section("jars", JarsSettings)
    jars.require_product()
    assert (jars.native_library, jars.native_check_class) == (
        "minray_jni",
        "io.minray.runtime.NativeCheck",
    )
    assert cfg.section("release_tests", ReleaseTestsSettings).package == "minray"
