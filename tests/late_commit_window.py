"""Measure the late-commit window of the team API client: `python -m tests.late_commit_window`.

One run: an update of team 'payments' to auth X fails within a 1 s budget because every PUT is held by the server for
`delay` seconds before it commits (the fake's "slow=" fault: a request Concourse, Traefik or a stuck database keeps,
then completes); its PUTs are abandoned. The next update of the team, to Y, follows at once in the same process (as
the next operation of one `up`'s provider would). The run counts as overwritten when, once every held PUT has
landed, the team holds X while the client reported Y. Per-attempt bounds are the fault tests' (connect 0.5 s, read
0.5 s: a fiftieth of production's 10 s and 30 s in sum), on real time, because the server commits on real time.

The figure is the range of delays that end overwritten: the window. Run it on a checkout before and after a change
to components/concourse/team_api.py to compare; README (Concourse teams) quotes the result.
"""

from __future__ import annotations

import sys
import time

from components.concourse.team_api import RealClock, TeamApiError
from components.concourse.teams import TeamProvider
from tests.fake_concourse import GROUP, OTHER_GROUP, auth_of, props, running

BOUNDS = {"connect_timeout": 0.5, "read_timeout": 0.5, "first_wait": 0.05, "max_wait": 0.4, "min_attempt": 0.05}
DELAYS = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.5, 2.0)


def one_run(delay: float) -> tuple[bool, bool, float]:
    """(the first update failed, the team ended overwritten, seconds the second update took)."""
    with running() as server:
        provider = TeamProvider(RealClock(), BOUNDS)
        outs = provider.create(props(server)).outs
        assert outs is not None
        server.faults = [f"PUT:slow={delay}"] * 5
        try:
            provider.update("payments", outs, props(server, groups=(OTHER_GROUP,), budgetSeconds=1))
            failed = False
        except TeamApiError:
            failed = True
        server.faults.clear()
        newer = props(server, groups=(GROUP, OTHER_GROUP))
        start = time.monotonic()
        result = provider.update("payments", outs, newer)
        took = time.monotonic() - start
        assert result.outs is not None and result.outs["auth"] == auth_of(GROUP, OTHER_GROUP)
        server.stopping.wait(delay + 1.0)  # every held PUT has committed by now
        overwritten = server.teams["payments"]["auth"] != auth_of(GROUP, OTHER_GROUP)
        return failed, overwritten, took


def main(repeats: int = 2) -> None:
    print("delay_s  first_update_failed  overwritten  second_update_s")
    for delay in DELAYS:
        for _ in range(repeats):
            failed, overwritten, took = one_run(delay)
            print(f"{delay:7.1f}  {failed!s:19}  {overwritten!s:11}  {took:15.2f}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
