"""`make run`'s supervisor (control_api/processes/supervisor.py) with a real child that keeps crashing: it is
restarted after 1 s, then 2 s, 4 s ... doubling to 30 s at most, and after 1 s again once it has
stayed up a minute (docs/reliability.md, "Supervision")."""
from __future__ import annotations

import subprocess
import threading
import time

from control_api.processes.supervisor import BACKOFF_MAX, STABLE_AFTER, TICK, Component, Supervisor

CRASH = ["/bin/sh", "-c", "exit 3"]  # a real process that dies at once, as a crashing component does


def test_a_crashing_child_is_restarted_after_1_then_2_then_4_seconds(tmp_path):
    starts: list[float] = []

    def launch() -> subprocess.Popen:
        starts.append(time.monotonic())
        return subprocess.Popen(CRASH)

    component = Component("crasher", launch)
    supervisor = Supervisor([component], tmp_path / "state.json")
    component.start()
    runner = threading.Thread(target=supervisor.run, daemon=True)
    runner.start()
    deadline = time.monotonic() + 15
    while len(starts) < 4:
        assert time.monotonic() < deadline, f"only {len(starts)} starts in 15 s"
        time.sleep(0.05)
    supervisor.stopping = True
    runner.join(timeout=5)
    supervisor.stop()
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:])]
    # Each gap is the back-off, plus up to one look of the supervisor (every TICK) to see the death
    # and one more to act when the back-off has passed, plus the child's short life; never less.
    for gap, backoff in zip(gaps, (1, 2, 4)):
        assert backoff <= gap < backoff + 2 * TICK + 0.5, gaps
    assert component.restarts == 3


def planned_delays(component: Component, deaths: int, stable_for: float = 0.0) -> list[float]:
    """Let the real child die `deaths` times; each time, the delay the supervisor plans before the
    restart (read on a clock this test advances, so a 30 s back-off takes no 30 s)."""
    delays, now = [], component.started_at
    for _ in range(deaths):
        crashed = component.process
        crashed.wait(timeout=10)
        now += stable_for
        component.check(now)  # notices the death, plans the restart
        delays.append(component.restart_at - now)
        now = component.restart_at
        component.check(now)  # the time has come: started again
        assert component.restart_at is None and component.process is not crashed  # a new process
        component.started_at = now  # on the test's clock from here on
    return delays


def test_the_back_off_doubles_up_to_30_seconds_and_starts_again_at_1_after_a_stable_minute():
    component = Component("crasher", lambda: subprocess.Popen(CRASH))
    component.start()
    component.started_at = 0.0
    try:
        assert planned_delays(component, 8) == [1, 2, 4, 8, 16, 30, 30, 30]
        assert BACKOFF_MAX == 30
        # Up longer than a minute before it died: a new crash, not a crash loop.
        assert planned_delays(component, 1, stable_for=STABLE_AFTER + 1) == [1]
        assert planned_delays(component, 2) == [2, 4]
    finally:
        component.stop()
        component.wait()
