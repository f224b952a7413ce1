"""Every link in README.md and docs/*.md leads somewhere inside the repository: a relative link to
a file that exists (and, with `#anchor`, to one of its headings), and a file path a page names in
`code` (a `docs/x.md`) to a file that is there too, unless git ignores it (generated output)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from contract.paths import PROJECT_ROOT

PAGES = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
INLINE_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
NAMED_DOCUMENT = re.compile(r"`([\w./-]+\.md)`")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def prose(page: Path) -> str:
    return FENCE.sub("", page.read_text(encoding="utf-8"))


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    slugs = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", prose(page), re.MULTILINE):
        text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
        slugs.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text)))
    return slugs


def ignored_by_git(path: Path) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=PROJECT_ROOT).returncode == 0


def broken_links(page: Path, root: Path = PROJECT_ROOT) -> list[str]:
    text = prose(page)
    broken = []
    for target in INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.is_relative_to(root) or not linked.exists():
            broken.append(f"{target}: no such file in the repository")
        elif anchor and linked.suffix == ".md" and anchor.lower() not in anchors(linked):
            broken.append(f"{target}: {linked.name} has no heading #{anchor}")
    for named in NAMED_DOCUMENT.findall(text):
        candidates = [root / named, page.parent / named]
        if not any(path.exists() or ignored_by_git(path) for path in candidates):
            broken.append(f"`{named}`: no such file in the repository")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_link_resolves_inside_the_repository(page):
    assert broken_links(page) == []


def test_the_checker_finds_a_broken_link(tmp_path):
    (tmp_path / "there.md").write_text("# There\n\n## Some heading: with `code`\n")
    page = tmp_path / "page.md"
    page.write_text("# Title\n\nSee [missing](nowhere.md), [title](#title), [bad anchor](#nope), `shared/NOPE.md`,\n"
                    "[there](there.md#some-heading-with-code), [no such heading](there.md#other) and `there.md`.\n"
                    "```\n[in a fence](ignored.md)\n```\n[ref]: elsewhere.md\n")  # fmt: skip

    found = broken_links(page, root=tmp_path)

    assert sorted(found) == sorted([
        "nowhere.md: no such file in the repository",
        "#nope: page.md has no heading #nope",
        "there.md#other: there.md has no heading #other",
        "elsewhere.md: no such file in the repository",
        "`shared/NOPE.md`: no such file in the repository",
    ])
