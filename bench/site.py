"""A synthetic static site shaped like a documentation site, for crawling benchmarks.

Pages live in nested folders (`/docs/section-3/page-123.html`), are 7-20 KB of HTML each, and carry
a navigation of 10 links common to every page plus ~15 body links. Page i links to pages 8i+1..8i+8
(a tree rooted at `/`), so every page is reachable by links alone; the remaining body links go to
random pages, like "see also" links. Text comes from a fixed pool of paragraphs picked by a seeded
RNG, so generation is deterministic and cheap: 100,000 pages is a streaming write of ~1.3 GB, no
page is ever held in memory with another.

The sitemaps need absolute URLs, so robots.txt and the sitemaps are written separately, for the
origin the site is served at (`write_sitemaps`), while the pages (root-relative links only) are
generated once per size and reused (`ensure_site`).
"""
from __future__ import annotations

import argparse
import random
import struct
import sys
import time
import zlib
from pathlib import Path

BRANCHING = 8  # tree children per page: depth stays ~log8(N), 6 levels at 100,000 pages
BODY_LINKS = 15
NAV_LINKS = 10
SITEMAP_LIMIT = 50_000  # URLs per sitemap file (sitemaps.org protocol limit)
SEED = 20240601
FORMAT_VERSION = "3"  # bump when the page layout changes so cached sites are regenerated
WORDS = (
    "crawl cache edge origin request response header latency throughput sitemap robots index page "
    "section guide install configure deploy monitor token job queue worker node proxy static asset "
    "image script style layout render browser server client network timeout retry backoff redirect "
    "status error metric report export domain link anchor document reference tutorial example api"
).split()


def section_count(pages: int) -> int:
    return max(1, round((pages**0.5) / 3))


def page_path(index: int, pages: int) -> str:
    """URL path of page `index`; page 0 is the home page `/`."""
    if index == 0:
        return "/"
    section = index * section_count(pages) // pages
    return f"/docs/section-{section}/page-{index}.html"


def file_path(root: Path, url_path: str) -> Path:
    return root / ("index.html" if url_path == "/" else url_path.lstrip("/"))


def _paragraph_pool(rng: random.Random, count: int = 300) -> list[str]:
    pool = []
    for _ in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(60, 140))]
        words[0] = words[0].capitalize()
        pool.append("<p>" + " ".join(words) + ".</p>\n")
    return pool


def _png(width: int = 16, height: int = 16) -> bytes:
    """A valid, tiny grey PNG (the assets only need to exist and be referenced)."""
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _write_assets(root: Path) -> None:
    assets = root / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    (assets / "site.css").write_text("body{font-family:sans-serif;margin:0}nav a{margin:0 .5em}\n" * 40)
    (assets / "app.js").write_text("document.addEventListener('DOMContentLoaded',function(){});\n" * 40)
    png = _png()
    for name in ("logo.png", "img-0.png", "img-1.png", "img-2.png", "img-3.png"):
        (assets / name).write_bytes(png)


def _page(index: int, pages: int, rng: random.Random, pool: list[str], nav: str) -> str:
    children = range(BRANCHING * index + 1, min(pages, BRANCHING * index + BRANCHING + 1))
    links = [page_path(child, pages) for child in children]
    if index + 1 < pages:
        links.append(page_path(index + 1, pages))  # "next page", like a docs site
    while len(links) < BODY_LINKS and pages > 1:
        links.append(page_path(rng.randrange(pages), pages))
    target = rng.randint(7_000, 20_000)
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>Page {index} - Bench docs</title>",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<link rel=\"stylesheet\" href=\"/assets/site.css\"><script src=\"/assets/app.js\" defer></script>",
        "</head>\n<body>\n", nav, f"<main><h1>Page {index}</h1>\n",
        f"<img src=\"/assets/img-{index % 4}.png\" alt=\"figure\">\n",
    ]  # fmt: skip
    size = sum(map(len, parts)) + 400
    body_links = iter(links)
    while size < target:
        paragraph = rng.choice(pool)
        link = next(body_links, None)
        if link is not None:
            paragraph = paragraph[:-5] + f" See <a href=\"{link}\">{link.rsplit('/', 1)[-1] or 'home'}</a>.</p>\n"
        parts.append(paragraph)
        size += len(paragraph)
    parts.extend(f"<p><a href=\"{link}\">more</a></p>\n" for link in body_links)  # short pages: links left
    parts.append("</main>\n<footer><a href=\"/\">Home</a> &middot; generated by bench/site.py</footer>\n</body></html>\n")
    return "".join(parts)


def generate(root: Path, pages: int, progress=None) -> None:
    """Write `pages` pages and the assets under `root` (streamed: one page in memory at a time)."""
    rng = random.Random(SEED)
    pool = _paragraph_pool(rng)
    nav_targets = ["/"] + [page_path(max(1, s * pages // section_count(pages) + 1), pages)
                           for s in range(section_count(pages))]  # fmt: skip
    nav_targets = list(dict.fromkeys(nav_targets))[:NAV_LINKS]
    nav = "<nav><img src=\"/assets/logo.png\" alt=\"logo\">" + "".join(
        f"<a href=\"{target}\">{target.rsplit('/', 1)[-1] or 'Home'}</a>" for target in nav_targets
    ) + "</nav>\n"  # fmt: skip
    _write_assets(root)
    made: set[Path] = set()
    for index in range(pages):
        path = file_path(root, page_path(index, pages))
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_text(_page(index, pages, rng, pool, nav), encoding="utf-8")
        if progress and index and index % 20_000 == 0:
            progress(f"site: {index:,}/{pages:,} pages written")


def write_sitemaps(root: Path, pages: int, origin: str) -> None:
    """robots.txt with a Sitemap: line, a sitemap index, and sitemap files of <= 50,000 URLs."""
    (root / "robots.txt").write_text(f"User-agent: *\nAllow: /\n\nSitemap: {origin}/sitemap_index.xml\n")
    folder = root / "sitemaps"
    folder.mkdir(exist_ok=True)
    names = []
    for number, start in enumerate(range(0, pages, SITEMAP_LIMIT)):
        names.append(f"sitemap-{number}.xml")
        with (folder / names[-1]).open("w", encoding="utf-8") as file:
            file.write('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n')
            for index in range(start, min(pages, start + SITEMAP_LIMIT)):
                file.write(f"<url><loc>{origin}{page_path(index, pages)}</loc></url>\n")
            file.write("</urlset>\n")
    entries = "".join(f"<sitemap><loc>{origin}/sitemaps/{name}</loc></sitemap>\n" for name in names)
    (root / "sitemap_index.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        + entries + "</sitemapindex>\n"
    )  # fmt: skip


def ensure_site(base: Path, pages: int, progress=None) -> Path:
    """The site of `pages` pages under `base`, generated unless an identical one is already there."""
    root = base / f"site-{pages}"
    marker = root / ".complete"
    stamp = f"{FORMAT_VERSION} {SEED} {pages}"
    if marker.exists() and marker.read_text() == stamp:
        return root
    started = time.monotonic()
    if root.exists():
        import shutil

        shutil.rmtree(root)
    root.mkdir(parents=True)
    generate(root, pages, progress)
    marker.write_text(stamp)
    if progress:
        progress(f"site: {pages:,} pages generated in {time.monotonic() - started:.1f} s at {root}")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description="Generate the synthetic benchmark site.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--origin", default="http://127.0.0.1:8080")
    args = parser.parse_args()
    root = ensure_site(args.directory, args.pages, lambda line: print(line, file=sys.stderr))
    write_sitemaps(root, args.pages, args.origin)
    print(root)


if __name__ == "__main__":
    main()
