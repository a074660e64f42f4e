"""Mutation testing of the rule modules: do the tests fail when a rule breaks?

Usage: .venv/bin/python tools/mutation.py [--module NAME ...] [--list]

The modules, what to mutate in each and the tests that should kill the mutants are declared in
tools/mutation.toml. Each module runs mutmut in its own scratch directory (.mutation/NAME/, made
afresh every run): symlinks to the packages and tests, and a copy of pyproject.toml with a
[tool.mutmut] section for that module, so the project's own pyproject.toml stays untouched and
the working tree is never mutated in place (mutmut writes its mutants under .mutation/NAME/mutants).

Results go to tools/mutation-results.json (modules not run keep their previous results) and to the
section of docs/testing.md between the mutants markers: a score table and, for every mutant that
no test killed, its diff and a line for a human verdict ("killed by <test>" once a test kills it,
or "equivalent because ..."). Verdicts already written are kept for an identical mutant.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tools" / "mutation.toml"
RESULTS = ROOT / "tools" / "mutation-results.json"
REPORT = ROOT / "docs" / "testing.md"
SCRATCH = ROOT / ".mutation"
BEGIN, END = "<!-- mutants:begin -->", "<!-- mutants:end -->"
VERDICT_PLACEHOLDER = "Verdict: _killed by `<test>`, or equivalent because ..._"
# Packages the tests import, by import name, and where each lives in the repository. Each is laid
# out at the top of the scratch tree under its import name (mutmut names a mutant after its path
# there, and puts the mutated copy first on sys.path, ahead of the editable install).
PACKAGES = {"lgsp": "lgsp", "lgsp_adapters": "adapters/lgsp_adapters"}
SEP = "ǁ"  # mutmut's separator in the names of mutated methods: xǁClassǁmethod__mutmut_N

DETECTED = {"killed", "caught by type check"}


@dataclass
class Module:
    name: str
    source: str
    tests: list[str]
    functions: list[str] = field(default_factory=list)
    k: str | None = None
    pytest: list[str] = field(default_factory=list)

    @property
    def scratch_source(self) -> str:
        """The source's path in the scratch tree, where packages sit under their import names."""
        for name, path in PACKAGES.items():
            if self.source.startswith(path + "/"):
                return name + self.source.removeprefix(path)
        raise SystemExit(
            f"module {self.name}: {self.source} is in none of the packages "
            f"{', '.join(PACKAGES.values())} (tools/mutation.py PACKAGES)"
        )

    @property
    def dotted(self) -> str:
        return self.scratch_source.removesuffix(".py").replace("/", ".").removesuffix(".__init__")

    def globs(self) -> list[str]:
        """mutmut mutant-name patterns for the configured functions (all of the file if none)."""
        patterns = []
        for function in self.functions:
            if "." in function:
                cls, _, method = function.partition(".")
                patterns.append(f"{self.dotted}.x{SEP}{cls}{SEP}{method}__mutmut_*")
            else:
                patterns.append(f"{self.dotted}.x_{function}__mutmut_*")
        return patterns


def load_config(path: Path) -> tuple[dict[str, Any], dict[str, Module]]:
    data = tomllib.loads(path.read_text())
    defaults = data.get("defaults", {})
    modules = {}
    for name, spec in data.get("modules", {}).items():
        unknown = set(spec) - {"source", "tests", "functions", "k", "pytest"}
        if unknown:
            raise SystemExit(f"{path}: module {name}: unknown keys {sorted(unknown)}")
        modules[name] = Module(name=name, **spec)
        if not (ROOT / modules[name].source).is_file():
            raise SystemExit(f"{path}: module {name}: no such file {modules[name].source}")
    return defaults, modules


def toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip()


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model,
        "python": platform.python_version(),
    }


def mutmut_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mutmut")
    except PackageNotFoundError:
        raise SystemExit(
            "mutmut is not installed in this environment: it comes with the dev extra "
            "(`make install`), or `.venv/bin/python -m pip install 'mutmut>=3.8,<3.9'`"
        ) from None


def prepare(module: Module, defaults: dict[str, Any]) -> Path:
    """A fresh scratch tree for one module, with the [tool.mutmut] section for it."""
    work = SCRATCH / module.name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    also_copy = list(defaults.get("also_copy", []))
    for name, path in PACKAGES.items():
        (work / name).symlink_to(ROOT / path, target_is_directory=True)
    for entry in ["tests", *also_copy]:
        (work / entry).symlink_to(ROOT / entry, target_is_directory=True)
    selection = list(module.tests)
    if module.k:
        selection += ["-k", module.k]
    pytest_args = [*defaults.get("pytest", []), *module.pytest]
    section = "\n".join(
        [
            "",
            "[tool.mutmut]",
            f"source_paths = {toml_list(list(PACKAGES))}",
            f"only_mutate = {toml_list([module.scratch_source])}",
            f"also_copy = {toml_list(also_copy)}",
            f"pytest_add_cli_args = {toml_list(pytest_args)}",
            f"pytest_add_cli_args_test_selection = {toml_list(selection)}",
            "",
        ]
    )
    (work / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + section)
    return work


def mutmut(work: Path, *args: str, log: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "mutmut"), *args]
    if log is None:
        return subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    with log.open("w") as out:
        return subprocess.run(
            command, cwd=work, stdout=out, stderr=subprocess.STDOUT, text=True, check=False
        )


def log_tail(log: Path, lines: int = 30) -> str:
    text = log.read_text(errors="replace")
    parts = [p.strip() for p in re.split(r"[\r\n]+", text)]
    parts = [p for p in parts if p and not re.match(r"^[⠀-⣿] ", p)]
    return "\n".join(parts[-lines:])


def function_of(mutant: str) -> str:
    """`Class.method` or `function` from a mutant name."""
    local = mutant.rsplit(".", 1)[-1].split("__mutmut_")[0]
    if local.startswith(f"x{SEP}"):
        _, cls, method = local.split(SEP)
        return f"{cls}.{method}"
    return local.removeprefix("x_")


def function_span(tree: ast.Module, qualname: str) -> tuple[int, int, int] | None:
    """First and last line of a function or method, and the column its ``def`` starts at."""
    cls, _, name = qualname.rpartition(".")
    body: list[ast.stmt] = tree.body
    if cls:
        owner = next((n for n in body if isinstance(n, ast.ClassDef) and n.name == cls), None)
        if owner is None:
            return None
        body = owner.body
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            return start, node.end_lineno or node.lineno, node.col_offset
    return None


def file_diff(source_text: str, path: str, mutant: str, relative_diff: str) -> dict[str, Any]:
    """Turn mutmut's function-relative diff into one against the file, with real line numbers."""
    lines = relative_diff.splitlines()
    body = [ln for ln in lines if not ln.startswith(("# ", "--- ", "+++ ", "@@"))]
    qualname = function_of(mutant)
    src = source_text.splitlines()
    span = function_span(ast.parse(source_text), qualname)
    # mutmut shows a method dedented to the module level: indent it back to its class.
    indent = " " * span[2] if span else ""
    old = [indent + ln[1:] if ln[1:] else "" for ln in body if ln[:1] in (" ", "-")]
    new = [indent + ln[1:] if ln[1:] else "" for ln in body if ln[:1] in (" ", "+")]
    removed = [ln[1:].strip() for ln in body if ln.startswith("-")]
    added = [ln[1:].strip() for ln in body if ln.startswith("+")]
    line = None
    if span is not None and old:
        lo, hi = max(span[0] - 10, 1), span[1]
        for start in range(lo, hi - len(old) + 2):
            if src[start - 1 : start - 1 + len(old)] == old:
                line = start
                break
    if line is not None:
        mutated = src[: line - 1] + new + src[line - 1 + len(old) :]
        diff = "\n".join(
            difflib.unified_diff(src, mutated, f"a/{path}", f"b/{path}", n=2, lineterm="")
        )
        first = next(i for i, ln in enumerate(body) if ln[:1] in ("-", "+"))
        changed_line = line + sum(1 for ln in body[:first] if ln[:1] == " ")
    else:
        diff = "\n".join(lines[1:] if lines and lines[0].startswith("# ") else lines)
        changed_line = None
    summary = f"{' / '.join(removed) or '(nothing)'}  →  {' / '.join(added) or '(removed)'}"
    return {
        "key": mutant_key(path, qualname, diff),
        "function": qualname,
        "line": changed_line,
        "diff": diff,
        "change": summary,
    }


def mutant_key(path: str, function: str, diff: str) -> str:
    """Identifies a mutant across runs and line shifts: a verdict written for it is kept."""
    body = [ln for ln in diff.splitlines() if not ln.startswith(("--- ", "+++ ", "@@"))]
    return hashlib.sha256("\n".join([path, function, *body]).encode()).hexdigest()[:12]


def run_module(module: Module, defaults: dict[str, Any], children: int) -> dict[str, Any]:
    source_text = (ROOT / module.source).read_text()
    work = prepare(module, defaults)
    log = work / "mutmut.log"
    started = time.monotonic()
    run = mutmut(work, "run", "--max-children", str(children), *module.globs(), log=log)
    seconds = round(time.monotonic() - started, 1)
    result: dict[str, Any] = {
        "source": module.source,
        "functions": module.functions,
        "tests": module.tests,
        "k": module.k,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "changed_since_commit": bool(
            git("status", "--porcelain", "--", module.source, *module.tests)
        ),
        "seconds": seconds,
        "error": None,
    }
    if run.returncode != 0:
        result["error"] = f"mutmut run exited {run.returncode}:\n{log_tail(log)}"
        return result
    listing = mutmut(work, "results", "--all", "true")
    statuses: dict[str, str] = {}
    for line in listing.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name.startswith(module.dotted + "."):
            statuses[name] = status
    globs = module.globs()
    if globs:
        import fnmatch

        statuses = {n: s for n, s in statuses.items() if any(fnmatch.fnmatch(n, g) for g in globs)}
    counts = {"mutants": len(statuses), "killed": 0, "survived": 0, "no tests": 0, "timeout": 0}
    counts["other"] = 0
    for status in statuses.values():
        if status in DETECTED:
            counts["killed"] += 1
        elif status in counts:
            counts[status] += 1
        else:
            counts["other"] += 1
    detected = counts["killed"] + counts["timeout"]
    result["counts"] = counts
    result["score"] = round(100 * detected / counts["mutants"], 1) if counts["mutants"] else None
    result["per_mutant_seconds"] = round(seconds / counts["mutants"], 2) if statuses else None
    survivors = []
    alive = [n for n in statuses if statuses[n] not in DETECTED and statuses[n] != "timeout"]
    diffs = mutant_diffs(work, module.scratch_source, alive)
    for name in sorted(alive, key=_mutant_order):
        entry = {"mutant": name, "status": statuses[name]}
        entry.update(file_diff(source_text, module.source, name, diffs[name]))
        survivors.append(entry)
    survivors.sort(key=lambda s: (s["line"] or 0, s["mutant"]))
    result["survivors"] = survivors
    result["mutants"] = dict(sorted(statuses.items(), key=lambda kv: _mutant_order(kv[0])))
    return result


# Prints mutmut's diff of each mutant named on stdin, as `mutmut show` does, in one process.
_DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
path, names = sys.argv[1], json.load(sys.stdin)
print(json.dumps({n: get_diff_for_mutant(n, path=path) for n in names}))
"""


def mutant_diffs(work: Path, path: str, names: list[str]) -> dict[str, str]:
    """mutmut's function-relative diff of each mutant: one process for all (`mutmut show` takes
    about a second per mutant), or `mutmut show` for each if mutmut's internals have moved."""
    if not names:
        return {}
    batch = subprocess.run(
        [sys.executable, "-c", _DIFFS, path],
        cwd=work,
        input=json.dumps(names),
        capture_output=True,
        text=True,
        check=False,
    )
    if batch.returncode == 0:
        try:
            diffs: dict[str, str] = json.loads(batch.stdout.strip().splitlines()[-1])
            if set(diffs) == set(names):
                return diffs
        except (ValueError, IndexError):
            pass
    return {name: mutmut(work, "show", name).stdout for name in names}


def _mutant_order(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("__mutmut_")
    return stem, int(number) if number.isdigit() else 0


# --- the report ------------------------------------------------------------------------------

INTRO = """# Testing

## Mutation testing

Mutation testing checks the tests, not the code: [mutmut](https://pypi.org/project/mutmut/)
changes one thing at a time in a rule module (`<` becomes `<=`, `and` becomes `or`, an argument
becomes `None`, a string changes) and runs the tests that should notice. A change that no test
notices, a *surviving mutant*, is a rule that can break silently: write the test that kills it,
or write down why the change is equivalent (the `Verdict:` line under each survivor below; it is
kept across runs while the mutant stays the same).

`tools/mutation.toml` lists the rule modules: the file (and optionally the functions) to mutate
and the tests that must kill the mutants. `tools/mutation.py` runs mutmut on each in a scratch
tree under `.mutation/` (the working tree is never changed) and writes the section below and
`tools/mutation-results.json`.

```sh
make mutants                               # every module, about 80 minutes on 2 cores
make mutants MODULES="auth-tokens outbox"  # some of them; the others keep their last results
```

Not part of `make test` or CI. A module takes from seconds (formats) to about 20 minutes (outbox,
delivery: their mutants often make the relay tests wait for their deadlines). The selections use
the SQLite variants of the tests; the ordering tests also run on RabbitMQ when it is up.

What mutmut does not mutate: module-level constants (regular expressions, tables such as the CCCD
province codes, `ALLOWED_ALGS`), code that runs at import time (so `require_scopes` is left out),
and code that tests run in a subprocess (the `lgsp` CLI).

"""


def existing_verdicts(text: str) -> dict[str, str]:
    verdicts = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"<!-- mutant ([0-9a-f]+) -->", line.strip())
        if match:
            current = match.group(1)
        elif current and line.strip().startswith("Verdict:"):
            if line.strip() != VERDICT_PLACEHOLDER:
                verdicts[current] = line.strip()
            current = None
    return verdicts


def render(results: dict[str, Any], order: list[str], verdicts: dict[str, str]) -> str:
    last = results["last_run"]
    mach = results["machine"]
    out = [
        BEGIN,
        "",
        f"Tool: {results['tool']} {results['tool_version']}; machine: {mach['nproc']} CPUs "
        f"({mach['cpu']}), Python {mach['python']}.",
        "",
    ]
    full = results.get("full_run")
    if full:
        state = "" if full.get("complete", True) else " (interrupted)"
        out += [
            f"Last run of every module{state}: {full['date']}, commit `{full['commit']}`, "
            f"wall time {_duration(full['seconds'])}.",
            "",
        ]
    if not full or full["date"] != last["date"]:
        out += [
            f"Last run: {last['date']}, commit `{last['commit']}`, modules "
            f"{', '.join(last['modules'])}, wall time {_duration(last['seconds'])}.",
            "",
        ]
    out += [
        "Score = (killed + timeout) / mutants. *No tests*: no selected test runs the function.",
        "",
        "| Module | Source | Mutants | Killed | Survived | No tests | Timeout | Score | Time "
        "| Commit |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    modules = results["modules"]
    names = [n for n in order if n in modules] + sorted(set(modules) - set(order))
    total = {"mutants": 0, "killed": 0, "survived": 0, "no tests": 0, "timeout": 0}
    for name in names:
        m = modules[name]
        src = f"`{m['source']}`" + (
            " (" + ", ".join(m["functions"]) + ")" if m["functions"] else ""
        )
        commit = m["commit"] + ("+" if m.get("changed_since_commit") else "")
        if m.get("error"):
            out.append(
                f"| {name} | {src} | error | | | | | | {_duration(m['seconds'])} | {commit} |"
            )
            continue
        c = m["counts"]
        for key in total:
            total[key] += c[key]
        shown = f"{m['score']:.1f} %" if m["score"] is not None else "–"
        out.append(
            f"| {name} | {src} | {c['mutants']} | {c['killed']} | {c['survived']} | "
            f"{c['no tests']} | {c['timeout']} | {shown} | {_duration(m['seconds'])} | {commit} |"
        )
    if total["mutants"]:
        score = 100 * (total["killed"] + total["timeout"]) / total["mutants"]
        out.append(
            f"| **all** | | {total['mutants']} | {total['killed']} | {total['survived']} | "
            f"{total['no tests']} | {total['timeout']} | {score:.1f} % | | |"
        )
    out += ["", "A `+` after the commit: the source or its tests had uncommitted changes.", ""]
    errors = [n for n in names if modules[n].get("error")]
    for name in errors:
        out += [f"### {name}: the run failed", "", "```", modules[name]["error"], "```", ""]
    out += ["### Surviving mutants", ""]
    any_survivor = False
    for name in names:
        survivors = modules[name].get("survivors") or []
        if not survivors:
            continue
        any_survivor = True
        out += [f"#### {name} (`{modules[name]['source']}`)", ""]
        for s in survivors:
            where = (
                f"{modules[name]['source']}:{s['line']}" if s["line"] else modules[name]["source"]
            )
            status = "" if s["status"] == "survived" else f" ({s['status']})"
            out += [
                f"- `{where}` in `{s['function']}`{status}: `{s['mutant'].rsplit('.', 1)[-1]}`",
                f"  <!-- mutant {s['key']} -->",
                "",
                "  ```diff",
                *[f"  {ln}" if ln else "" for ln in s["diff"].splitlines()],
                "  ```",
                "",
                "  " + verdicts.get(s["key"], VERDICT_PLACEHOLDER),
                "",
            ]
    if not any_survivor:
        out += ["None.", ""]
    out.append(END)
    return "\n".join(out)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def write_report(results: dict[str, Any], order: list[str]) -> None:
    text = REPORT.read_text() if REPORT.exists() else INTRO + BEGIN + "\n" + END + "\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + "\n\n" + BEGIN + "\n" + END + "\n"
    head, _, rest = text.partition(BEGIN)
    old, _, tail = rest.partition(END)
    verdicts = existing_verdicts(old)
    REPORT.write_text(head + render(results, order, verdicts) + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--module",
        action="append",
        default=[],
        metavar="NAME",
        help="a module of tools/mutation.toml (repeat, or space-separated); default: all",
    )
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--list", action="store_true", help="list the modules and exit")
    parser.add_argument("--max-children", type=int, help="parallel mutants (default: nproc)")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the docs/testing.md section from tools/mutation-results.json, run nothing",
    )
    args = parser.parse_args(argv)

    defaults, modules = load_config(args.config)
    if defaults.get("tool", "mutmut") != "mutmut":
        raise SystemExit("tools/mutation.py drives mutmut only")
    if args.list:
        for m in modules.values():
            only = f" [{', '.join(m.functions)}]" if m.functions else ""
            k = f" -k {m.k!r}" if m.k else ""
            print(f"{m.name:16} {m.source}{only}  ({' '.join(m.tests)}{k})")
        return 0
    selected = [n for arg in args.module for n in arg.split()] or list(modules)
    unknown = [n for n in selected if n not in modules]
    if unknown:
        raise SystemExit(f"unknown module(s) {unknown}; known: {' '.join(modules)}")
    if args.report_only:
        saved: dict[str, Any] = json.loads(RESULTS.read_text())
        for module in saved["modules"].values():
            if not (ROOT / module["source"]).exists():
                continue  # a result of a file since moved: kept as it was until the next run
            source_text = (ROOT / module["source"]).read_text()
            for s in module.get("survivors") or []:
                if s["line"] is None:  # a diff not placed in the file yet: try again
                    s.update(file_diff(source_text, module["source"], s["mutant"], s["diff"]))
                s["key"] = mutant_key(module["source"], s["function"], s["diff"])
            if module.get("survivors"):
                module["survivors"].sort(key=lambda s: (s["line"] or 0, s["mutant"]))
        RESULTS.write_text(json.dumps(saved, indent=2, ensure_ascii=False) + "\n")
        write_report(saved, list(modules))
        return 0
    version = mutmut_version()
    mach = machine()
    children = args.max_children or defaults.get("max_children") or mach["nproc"]

    results: dict[str, Any] = {"modules": {}}
    if RESULTS.exists():
        results = json.loads(RESULTS.read_text())
    results["modules"] = {n: m for n, m in results.get("modules", {}).items() if n in modules}
    results.update(tool="mutmut", tool_version=version, machine=mach)

    started = time.monotonic()
    failed = False
    for i, name in enumerate(selected, 1):
        print(f"[{i}/{len(selected)}] {name}: {modules[name].source} ...", flush=True)
        result = run_module(modules[name], defaults, children)
        results["modules"][name] = result
        if result["error"]:
            failed = True
            print(
                f"    failed after {_duration(result['seconds'])}:\n{result['error']}", flush=True
            )
        else:
            c = result["counts"]
            print(
                f"    {c['mutants']} mutants: {c['killed']} killed, {c['survived']} survived, "
                f"{c['no tests']} no tests, {c['timeout']} timeout, {c['other']} other; "
                f"score {result['score']} % in {_duration(result['seconds'])}",
                flush=True,
            )
        results["last_run"] = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git("rev-parse", "--short", "HEAD"),
            "modules": selected[:i],
            "seconds": round(time.monotonic() - started, 1),
        }
        if set(selected) == set(modules):
            # Kept apart, so that a later run of a few modules does not hide the whole run's time.
            results["full_run"] = {**results["last_run"], "complete": i == len(selected)}
        # Written after every module, so an interrupted run keeps what it measured.
        RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        write_report(results, list(modules))
    print(
        f"done in {_duration(time.monotonic() - started)}: {REPORT.relative_to(ROOT)}, "
        f"{RESULTS.relative_to(ROOT)}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
