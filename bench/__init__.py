"""The LGSP benchmark harness (issue 5): ``python -m bench run [--quick]``.

Every scenario (B1..B7) starts real platform processes (``lgsp serve`` / ``lgsp worker``), drives
them from separate load-generator processes over loopback, measures a reference in the same run,
checks that nothing was lost or duplicated, and writes ``bench/results/latest.json`` plus the
table in ``docs/benchmarks.md``.
"""
