"""A redirect chain as the job page lists it: every hop with its status, the URL it ended at, and
where a URL comes back (the hop a loop returns to)."""
from __future__ import annotations

from typing import Any, NamedTuple


class Hop(NamedTuple):
    url: str
    status: int | None  # None: the URL the chain went to last, not fetched again (the loop's return)
    repeats: int | None  # index of the earlier hop with this URL: the loop closes here


class Chain(NamedTuple):
    hops: list[Hop]
    loop: bool


def chain_hops(chain: dict[str, Any]) -> Chain:
    """`chain` is an item of the issues report's redirect_chains (url, final_url, chain, error_type)."""
    recorded = [(hop.get("url"), hop.get("status")) for hop in chain.get("chain") or []]
    if not recorded:
        recorded = [(chain.get("url"), None)]
    final = chain.get("final_url")
    if final and final != recorded[-1][0]:
        recorded.append((final, None))
    seen: dict[str, int] = {}
    hops = []
    for index, (url, status) in enumerate(recorded):
        hops.append(Hop(url, status, seen.get(url)))
        seen.setdefault(url, index)
    loop = chain.get("error_type") == "redirect_loop" or any(hop.repeats is not None for hop in hops)
    return Chain(hops, loop)


def register(app) -> None:
    app.add_template_filter(chain_hops, "chain_hops")
