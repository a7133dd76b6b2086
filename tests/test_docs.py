"""The instructor's guide in docs/ holds together: what `mkdocs build --strict` checks, checked here without
mkdocs (not installable on every machine this project runs on), and the strict build itself where it is."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO

DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE_SPAN = re.compile(r"(`+).+?\1", re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def nav_pages(nav: list) -> list[str]:
    """The files of mkdocs.yml's nav, sections opened."""
    found = []
    for entry in nav:
        for value in (entry.values() if isinstance(entry, dict) else [entry]):
            found += nav_pages(value) if isinstance(value, list) else [value]
    return found


def prose(text: str) -> str:
    """Markdown without its code: a link or heading inside code is text, not a link or a heading."""
    return CODE_SPAN.sub(lambda m: m.group(0).replace("[", "").replace("#", ""), FENCE.sub("", text))


def slug(heading: str) -> str:
    """A heading's anchor as Python-Markdown's toc extension (mkdocs) makes it; code marks and links drop."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    """Every heading's anchor; a repeated one gets _1, _2... as toc numbers them."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(heading)
        found.add(base if base not in seen else f"{base}_{seen[base]}")
        seen[base] = seen.get(base, 0) + 1
    return found


def test_every_nav_entry_exists_and_every_page_is_in_the_nav():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["strict"] is True and config["docs_dir"] == "docs" and config["theme"]["name"] == "material"
    listed = nav_pages(config["nav"])
    assert len(listed) == len(set(listed)), f"a page is listed twice: {listed}"
    assert [p for p in listed if not (DOCS / p).is_file()] == [], "the nav names pages that do not exist"
    assert sorted({p.name for p in PAGES} - set(listed)) == [], "pages missing from the nav"
    assert listed[0] == "index.md", "the guide starts with Your first course"


@pytest.mark.parametrize("document", [*PAGES, REPO / "README.md"], ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_and_anchor_resolves(document):
    broken = []
    for target in LINK.findall(prose(document.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not this site's
            continue
        path, _, anchor = target.partition("#")
        assert not path.startswith("/"), f"{document.name}: {target}: an absolute link breaks off the site's root"
        resolved = (document.parent / path).resolve() if path else document
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif document.parent == DOCS and DOCS not in resolved.parents:
            broken.append(f"{target}: outside docs/, which the site does not hold")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    assert not broken, f"{document.relative_to(REPO)}:\n" + "\n".join(broken)


def test_the_readme_is_short_and_leads_into_the_guide():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 120
    assert "./scripts/demo.sh" in readme and "./scripts/test.sh" in readme
    assert {p.name for p in PAGES} <= {Path(t).name for t in LINK.findall(prose(readme))}, "a page the README skips"


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None,
                    reason="mkdocs and mkdocs-material are not installed (pip install mkdocs-material): the "
                           "test above checks the nav, links and anchors without them")
def test_the_site_builds_in_strict_mode(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(REPO / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "index.html").is_file()
