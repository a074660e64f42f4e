"""Small statistics: percentiles, and a summary of py-spy's collapsed stacks."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100), nearest-rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency_summary(values_ms: list[float]) -> dict[str, Any]:
    return {
        "count": len(values_ms),
        "p50_ms": _round(percentile(values_ms, 50)),
        "p90_ms": _round(percentile(values_ms, 90)),
        "p99_ms": _round(percentile(values_ms, 99)),
        "max_ms": _round(max(values_ms) if values_ms else None),
    }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
_NOISE = ("threading.py", "concurrent/futures/thread.py", "site-packages/anyio/")

# Leaf frames of a thread that waits (for a lock, a queue, the database's or a peer's answer, an
# event loop's poll): py-spy's idle detection does not see these waits on this kind of machine,
# so they are counted apart and the percentages below are of the samples that run code.
WAITING_LEAVES = frozenset(
    {
        "Condition.wait (threading.py)",
        "Event.wait (threading.py)",
        "Queue.get (queue.py)",
        "Thread.join (threading.py)",
        "_wait_for_tstate_lock (threading.py)",
        "Connection.wait (psycopg/connection.py)",
        "Runner.run (asyncio/runners.py)",
        "SocketIO.readinto (socket.py)",
        "poll_wait_for_socket.<locals>.do_poll (urllib3/util/wait.py)",
        "PollPoller.poll (pika/adapters/select_connection.py)",
        "select (selectors.py)",
        "EpollSelector.select (selectors.py)",
    }
)


def _frame_name(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({path})"


def summarize_profile(path: Path, top: int = 15) -> dict[str, Any]:
    """Where the samples went: by leaf function (self time) and by function on the stack
    (inclusive time), as percentages of the samples that run code (``waiting_percent``: the
    share of samples whose leaf is a wait, :data:`WAITING_LEAVES`, left out)."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    waiting = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f.strip()]
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        if frames[-1] in WAITING_LEAVES:
            waiting += count
            continue
        total += count
        self_time[frames[-1]] += count
        for name in set(frames):
            if not any(n in name for n in _NOISE):
                inclusive[name] += count

    def pct(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": name, "percent": round(100 * n / total, 1)}
            for name, n in counter.most_common(top)
        ]

    lgsp_inclusive = Counter(
        {k: v for k, v in inclusive.items() if "(lgsp/" in k or "(adapters/" in k}
    )
    return {
        "samples": total,
        "waiting_percent": round(100 * waiting / max(1, waiting + total), 1),
        "self": pct(self_time),
        "inclusive": pct(inclusive),
        "lgsp_inclusive": pct(lgsp_inclusive),
    }
