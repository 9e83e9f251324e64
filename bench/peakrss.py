"""Peak-RSS measurement shared by the benchmarks (Linux /proc; ru_maxrss elsewhere).

``ru_maxrss`` in a forked child still carries the parent's peak, so on Linux the probes reset
the kernel's high-water mark (``/proc/self/clear_refs``) and read ``VmHWM`` instead.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

__all__ = ["peak_rss", "reset_peak_rss", "status_bytes"]


def status_bytes(field: str) -> int | None:
    """A ``Vm*`` line of /proc/self/status in bytes (Linux); None elsewhere."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return None


def reset_peak_rss() -> bool:
    """Restart VmHWM from the current RSS (Linux >= 4.0), so earlier peaks do not count."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss() -> int:
    """Peak RSS: VmHWM, else ru_maxrss (which on Linux also keeps the parent's peak at fork)."""
    peak = status_bytes("VmHWM")
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024
