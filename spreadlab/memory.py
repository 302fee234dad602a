"""Memory estimates, checked before a network or per-agent arrays are built, so a run that
cannot fit is refused with what it needs and what is available instead of exhausting the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

from spreadlab.errors import ConfigError

GB = 1024**3
# Bytes per agent and per edge end while a network is built, stored and simulated (the peak of
# the vectorised pairing and CSR arrays, per-agent state, and the edge rows written to the store).
AGENT_BYTES = 120
EDGE_END_BYTES = 48
# networkx graphs (Watts–Strogatz, Barabási–Albert) hold dicts of dicts: far more per item.
NX_AGENT_BYTES = 600
NX_EDGE_END_BYTES = 300


def available_bytes() -> int:
    """Memory this process may still use: MemAvailable, bounded by a cgroup limit if any."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            found.append(int(limit))
    except OSError:
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return 2**62  # unknown: do not refuse
    return min(found)


def network_bytes(n: int, edge_ends: float, via_networkx: bool = False) -> int:
    """Estimated peak bytes for a network of ``n`` agents and ``edge_ends`` (= 2·edges)."""
    if via_networkx:
        return int(n * NX_AGENT_BYTES + edge_ends * NX_EDGE_END_BYTES)
    return int(n * AGENT_BYTES + edge_ends * EDGE_END_BYTES)


def require(needed: int, what: str, fix: str) -> None:
    """Raise a :class:`ConfigError` naming ``what`` when ``needed`` bytes are not available."""
    available = available_bytes()
    if needed > available:
        raise ConfigError(
            f"{what} needs about {needed / GB:.1f} GB of memory, but {available / GB:.1f} GB is "
            f"available; {fix}"
        )
