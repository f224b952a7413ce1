"""`python -m bench.idle [TREE]`: what `make run` costs while it waits for work.

Starts the service of the checkout TREE (default: this one) as `make run` does, in a process group
of its own, on a fresh SQLite database under a temporary VAR_DIR and ports of its own (18731 for the
API, 18732 for scrapyd), lets it settle for 45 s, then reads every process of the service (the
supervisor's group, and the scrapyd node's zygote, which detaches) for 60 s: resident set (RSS),
proportional set (PSS: shared pages divided among their sharers, so the sum is what the machine
pays) and CPU ticks. Last, it sends Ctrl-C to the group, as a terminal does, and checks that every
process is gone. docs/performance.md, "Idle footprint of make run", has the figures.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from contract.paths import PROJECT_ROOT

SETTLE_SECONDS, MEASURE_SECONDS = 45, 60
# The entry point `make run` starts, in the layout of each side of the comparison.
ENTRY_POINTS = ("control_api/processes/supervisor.py", "control_api/service.py")


def entry_module(tree: Path) -> str:
    for path in ENTRY_POINTS:
        if (tree / path).exists():
            return path.removesuffix(".py").replace("/", ".")
    raise SystemExit(f"{tree} has no make run entry point ({' or '.join(ENTRY_POINTS)})")


def service_pids(group: int, var: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # ended meanwhile
        if int(fields[2]) == group or str(var) in command:
            pids.append(int(entry.name))
    return sorted(pids)


def sample(pid: int) -> tuple[int, int, int, str]:
    """(CPU ticks, RSS kB, PSS kB, command line) of a live process."""
    proc = Path(f"/proc/{pid}")
    fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line)
    rollup = dict(line.split(":", 1) for line in (proc / "smaps_rollup").read_text().splitlines() if ":" in line)
    command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    return int(fields[11]) + int(fields[12]), int(status["VmRSS"].split()[0]), int(rollup["Pss"].split()[0]), command


def measure(tree: Path) -> int:
    var = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    env = dict(os.environ, VAR_DIR=str(var), API_PORT="18731", SCRAPYD_URL="http://127.0.0.1:18732",
               DATABASE_URL=f"sqlite:///{var}/crawl.db")  # fmt: skip
    log_path = var / "service.log"
    with log_path.open("w") as log:
        service = subprocess.Popen(
            [str(tree / ".venv" / "bin" / "python"), "-m", entry_module(tree)], cwd=tree, env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a terminal's Ctrl-C, even from a script
        )  # fmt: skip
    deadline = time.monotonic() + 180
    while "Crawl service is running" not in log_path.read_text():
        if service.poll() is not None or time.monotonic() > deadline:
            print(log_path.read_text()[-3000:], file=sys.stderr)
            raise SystemExit("the service did not start")
        time.sleep(1)
    time.sleep(SETTLE_SECONDS)
    pids = service_pids(service.pid, var)
    first = {pid: sample(pid) for pid in pids}
    time.sleep(MEASURE_SECONDS)
    totals = [0, 0, 0]
    print("| process | RSS MB | PSS MB | CPU ticks in 60 s |\n|---|---|---|---|")
    for pid in pids:
        ticks, rss, pss, command = sample(pid)
        spent = ticks - first[pid][0]
        totals = [totals[0] + rss, totals[1] + pss, totals[2] + spent]
        print(f"| `{command.replace(str(tree), '.')[:100]}` | {rss // 1024} | {pss // 1024} | {spent} |")
    print(f"| **{len(pids)} processes** | {totals[0] // 1024} | {totals[1] // 1024} | {totals[2]} "
          f"({totals[2] / MEASURE_SECONDS:.2f} % of one core) |")  # fmt: skip
    os.killpg(service.pid, signal.SIGINT)
    service.wait(timeout=30)
    time.sleep(3)
    left = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    print(f"\nAfter Ctrl-C: {'still running ' + ', '.join(map(str, left)) if left else 'every process gone'}.")
    return 1 if left else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.idle", description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", type=Path, default=PROJECT_ROOT,
                        help="a checkout with its .venv (default: this one)")  # fmt: skip
    raise SystemExit(measure(parser.parse_args(argv).tree.resolve()))


if __name__ == "__main__":
    main()
