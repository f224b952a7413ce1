"""The real sites: HTML documentation trees from Debian packages, installed by the bench.

Picked by grepping their hrefs, for different sizes (500-3,000 pages) and link styles; the table in
docs/performance.md ("What the real-site and many-jobs figures mean") says what each tree has. No
Debian tree we found links to itself with absolute `http://host/` URLs or uses `<base href>`: the
root-relative case is python's, whose pages link to their install path, so it is served under that
path (bench/vhosts.py). The trees are served as installed; their HTML is never rewritten.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bench.vhosts import Vhost


@dataclass(frozen=True)
class Tree:
    name: str
    package: str
    root: str  # the folder with the tree's index.html
    prefix: str = ""  # URL path to serve it under (see bench/vhosts.py)
    links: str = ""

    def vhost(self) -> Vhost:
        return Vhost(self.name, Path(self.root), self.prefix)


TREES = {
    tree.name: tree
    for tree in (
        Tree("python", "python3.11-doc", "/usr/share/doc/python3.11-doc/html", "/usr/share/doc/python3-doc/html/",
             "relative + root-relative"),  # fmt: skip
        Tree("postgresql", "postgresql-doc-15", "/usr/share/doc/postgresql-doc-15/html", links="relative, flat"),
        Tree("apache", "apache2-doc", "/usr/share/doc/apache2-doc/manual", links="relative, nested, 9 languages"),
        Tree("git", "git-doc", "/usr/share/doc/git-doc", links="relative, flat"),
    )
}
DEFAULT_TREES = ("python", "postgresql", "apache")


@lru_cache(maxsize=None)
def html_files(root: str) -> int:
    """How many .html files the tree holds (what a crawl could find at most, before redirects and 404s)."""
    return sum(1 for _, _, files in os.walk(root, followlinks=True) for name in files if name.endswith(".html"))


def ensure_trees(names: list[str], log) -> list[Tree]:
    """The trees asked for, their packages installed with apt-get when missing."""
    trees = [TREES[name] for name in names]
    missing = [tree.package for tree in trees if not Path(tree.root, "index.html").exists()]
    if missing:
        log(f"apt-get install -y {' '.join(missing)}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *missing]):
            subprocess.run(command, env=env, check=True, timeout=1800, stdout=subprocess.DEVNULL)
    return trees
