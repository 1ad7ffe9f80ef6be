"""What the clients did per level: CPU, pauses, schedule adherence (the manifest's `load`).

One builder for every driver. A client above `SATURATED` of a core may be what limits
the figures (then the client, not the store, sets them): that is a warning. Pauses
are the moments a client handed its records over (outside timed requests); in an
open loop a *forced* pause is one taken without an idle gap before the next
intended start, i.e. one that may have delayed a request — reported, never hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from featbench.events import SectionInfo
from featbench.runner import schedule
from featbench.runner.client import ShareStats

SATURATED = 0.90  # share of one core a client may use before it is suspect
AFTER_PAUSE_KEPT = 1000  # seqs of requests right after a pause kept in the manifest


def level_entry(
    info: SectionInfo,
    level: float,
    shares: Mapping[int, ShareStats],
    *,
    concurrency: int,
    workers: str,
    rate: float | None,
    arrival: str | None,
    adherence: schedule.AdherenceCounter | None = None,
    warn: Callable[[str], None],
) -> dict[str, Any]:
    """The manifest entry of one measured level, warnings fired through `warn`."""
    key = info.level_key
    after: list[int] = sorted(s for st in shares.values() for s in st.after_pause)
    entry: dict[str, Any] = {
        "section": info.label,
        "strategy": info.strategy,
        key: level,
        "concurrency": concurrency,
        "workers": workers,
        "loop": "open" if rate is not None else "closed",
        "arrival": arrival if rate is not None else None,
        "client_cpu": [
            {
                "worker": w,
                "cpu_s": round(st.cpu_s, 4),
                "wall_s": round(st.wall_s, 4),
                "pause_cpu_s": round(st.pause_cpu_s, 4),  # handing records over, re-warming
                "core_pct": round(100.0 * st.cpu_s / st.wall_s, 2) if st.wall_s > 0 else None,
            }
            for w, st in sorted(shares.items())
        ],
        # compiled: requests ran in machine code calling libpq (backends/pg_native.py);
        # python: through the session's `execute`
        "timed_path": "/".join(sorted({st.timed_path for st in shares.values()})),
        "pauses": sum(st.pauses for st in shares.values()),
        "forced_pauses": sum(st.forced_pauses for st in shares.values()),
        "pause_s": round(sum(st.pause_s for st in shares.values()), 4),
        "rewarm_errors": sum(st.rewarm_errors for st in shares.values()),
        "after_pause_seq": after[:AFTER_PAUSE_KEPT],
    }
    busiest = max((st.cpu_s / st.wall_s for st in shares.values() if st.wall_s > 0), default=None)
    entry["client_saturated"] = None if busiest is None else busiest > SATURATED
    lvl = f"{key.replace('_pct', '')} {level:g}"
    if busiest is not None and busiest > SATURATED:
        warn(
            f"{info.label} {lvl}: a client used {100 * busiest:.0f}% of a core; the client, "
            "not the store, may limit these figures (add --concurrency or lower --rate)"
        )
    if entry["forced_pauses"]:
        warn(
            f"{info.label} {lvl}: {entry['forced_pauses']} time(s) a client had to hand its "
            "records over without an idle gap before the next request (it was saturated)"
        )
    if rate is not None and adherence is not None:
        adh = adherence.result(rate)
        entry.update(adh.to_dict())
        if adh.reached is False:
            warn(
                f"{info.label} {lvl}: target rate {rate:g} req/s not reached "
                f"(achieved {adh.achieved_rps:.1f} req/s, {adh.late} of {adh.requests} requests "
                f"started late, up to {adh.max_lag_ms:.0f} ms); latency from the intended start "
                "(corrected) includes that lag — add --concurrency or lower --rate"
            )
    return entry
