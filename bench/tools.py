"""The other link checkers the real-site comparison runs side by side with ours: linkinator (npm,
pinned, installed by the bench into the git-ignored bench/.tools) and `wget --spider -r` (apt).

Both are told to cover the scope our crawler covers by default: every same-origin link of an HTML
page, whatever it points at (HTML pages, text files, downloads), and nothing else.

- linkinator also checks external links and page assets (images, scripts, stylesheets) unless told
  not to: two `--skip` patterns leave out every URL outside the origin and every asset-looking URL.
  Its `--concurrency` is set to ours (its default is 100).
- wget stays on the start host by default; `-l inf` lifts its 5-level depth limit, `--no-parent`
  keeps it under the start path, `-R` rejects the same asset extensions, `-nd -P DIR` keeps the
  HTML it must download (to find links) in a scratch folder. It fetches one URL at a time.

The parsers read each tool's own summary, which the report prints next to the server-side counts.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

LINKINATOR_VERSION = "7.6.1"  # 8.x needs Node 22; Debian 12's Node is 20
TOOLS_DIR = Path(__file__).resolve().parent / ".tools"
LINKINATOR = TOOLS_DIR / "node_modules" / ".bin" / "linkinator"
ASSET_EXTENSIONS = ("css", "js", "png", "jpg", "jpeg", "gif", "svg", "ico", "woff", "woff2", "ttf", "eot")
ASSET_PATTERN = r"\.(" + "|".join(ASSET_EXTENSIONS) + r")(\?.*)?$"


def installed_linkinator_version() -> str | None:
    package = TOOLS_DIR / "node_modules" / "linkinator" / "package.json"
    try:
        return json.loads(package.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def ensure_linkinator(log) -> Path | None:
    """linkinator LINKINATOR_VERSION under bench/.tools (npm install when missing); None if npm fails."""
    if installed_linkinator_version() == LINKINATOR_VERSION and LINKINATOR.exists():
        return LINKINATOR
    npm = shutil.which("npm")
    if not npm:
        log("npm is missing: apt-get install -y npm")
        subprocess.run(["apt-get", "install", "-y", "npm"], check=False, timeout=900, stdout=subprocess.DEVNULL)
        npm = shutil.which("npm")
    if not npm:
        return None
    TOOLS_DIR.mkdir(exist_ok=True)
    if not (TOOLS_DIR / "package.json").exists():
        (TOOLS_DIR / "package.json").write_text('{"private": true}\n')
    log(f"npm install linkinator@{LINKINATOR_VERSION} into {TOOLS_DIR}")
    result = subprocess.run([npm, "install", "--no-audit", "--no-fund", f"linkinator@{LINKINATOR_VERSION}"],
                            cwd=TOOLS_DIR, capture_output=True, text=True, timeout=600)  # fmt: skip
    if result.returncode != 0 or not LINKINATOR.exists():
        log(f"npm install failed: {result.stderr[-1000:]}")
        return None
    return LINKINATOR


def wget_version() -> str | None:
    wget = shutil.which("wget")
    if not wget:
        return None
    first = subprocess.run([wget, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    match = re.search(r"Wget ([\d.]+)", first[0]) if first else None
    return match.group(1) if match else None


def linkinator_command(start_url: str, origin: str, concurrency: int) -> list[str]:
    return [str(LINKINATOR), start_url, "--recurse", "--concurrency", str(concurrency), "--format", "json",
            "--timeout", "30000", "--skip", f"^(?!{re.escape(origin)}/)", "--skip", ASSET_PATTERN]  # fmt: skip


def wget_command(start_url: str, scratch: Path) -> list[str]:
    return ["wget", "--spider", "-r", "-l", "inf", "--no-parent", "-nd", "-P", str(scratch), "-nv",
            "--tries=1", "--timeout=30", "-R", ",".join(ASSET_EXTENSIONS), start_url]  # fmt: skip


# linkinator exits 1 when it found a broken link, wget 8 when a server answered an error (a 404):
# both are results, not failures of the tool.
LINKINATOR_OK_CODES = (0, 1)
WGET_OK_CODES = (0, 8)


def parse_linkinator(output: str) -> dict:
    """Distinct URLs checked (OK or BROKEN), broken and skipped, from `linkinator --format json`
    (the bench captures stdout and stderr together: the JSON is the first object in them)."""
    start = output.find("{")
    if start < 0:
        raise ValueError("no JSON object in linkinator's output")
    report, _ = json.JSONDecoder().raw_decode(output[start:])
    # One entry per link *on a page*: a URL linked from 1,000 pages comes 1,000 times. Count URLs.
    urls: dict[str, set[str]] = {}
    for link in report.get("links", []):
        urls.setdefault(link["state"], set()).add(link["url"])
    return {"checked": len(urls.get("OK", set()) | urls.get("BROKEN", set())), "broken": len(urls.get("BROKEN", ())),
            "skipped": len(urls.get("SKIPPED", ())), "passed": bool(report.get("passed"))}  # fmt: skip


def parse_wget(output: str) -> dict:
    """Counts from the summary `wget --spider -r` prints at the end."""
    downloaded = re.search(r"^Downloaded: (\d+) files", output, re.MULTILINE)
    broken = re.search(r"^Found (no|\d+) broken links?\.", output, re.MULTILINE)
    wall = re.search(r"^Total wall clock time: ([\d.]+)(m?s)", output, re.MULTILINE)
    seconds = None
    if wall:
        seconds = float(wall.group(1)) / (1000.0 if wall.group(2) == "ms" else 1.0)
    return {
        "downloaded": int(downloaded.group(1)) if downloaded else 0,
        "broken": 0 if broken is None or broken.group(1) == "no" else int(broken.group(1)),
        "seconds": seconds,
    }
