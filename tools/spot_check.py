"""The spot check of issue 12, kept runnable: each rule broken by hand, and the test that must fail.

Usage: .venv/bin/python tools/spot_check.py [--rule N ...] [--table]

For each rule below, a scratch copy of the packages is made (.mutation/spot/, afresh each time),
the one change is applied there, and the named test runs against the copy: it must fail. The
test must pass on the unchanged copy too (checked first), so a failure is the rule's doing.
The working tree is never touched. `--table` prints the Markdown table of docs/testing.md
("The rules of the spot check") from the same data instead of running anything.
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".mutation" / "spot"
# Import name -> where the package lives in the repository (as in tools/mutation.py).
PACKAGES = {"lgsp": "lgsp", "lgsp_adapters": "adapters/lgsp_adapters"}
LINKED = ["tests", "schemas", "config", "pyproject.toml"]


@dataclass(frozen=True)
class Rule:
    rule: str
    path: str  # from the repository root
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple[str, ...]  # pytest node ids; every one must fail on the broken rule


RULES = [
    Rule(
        "copy-route recipients grant-checked when `to` is given",
        "lgsp/exchange/service.py",
        '    refused = [r for r in recipients if not directory.is_granted(sender, "send", '
        "request.type, r)]",
        '    refused = [r for r in recipients if not directory.is_granted(sender, "send", '
        "request.type, None)]",
        (
            "tests/api/test_accept_rules.py::"
            "test_a_copy_recipient_is_grant_checked_when_the_sender_names_one",
        ),
    ),
    Rule(
        "a retrying head blocks its chain",
        "lgsp/deliveries/repository.py",
        "            is_open(earlier.state),",
        "            earlier.state == DeliveryState.PENDING.value,",
        (
            "tests/relay/test_outbox_rules.py::"
            "test_an_open_head_blocks_its_chain_whatever_its_state",
        ),
    ),
    Rule(
        "the guarded outcome update only finishes a still-open delivery",
        "lgsp/deliveries/service.py",
        '    _DELIVERIES.c.id == bindparam("delivery_id"), is_open(_DELIVERIES.c.state)\n',
        '    _DELIVERIES.c.id == bindparam("delivery_id")\n',
        (
            "tests/relay/test_outbox_rules.py::"
            "test_an_outcome_is_not_recorded_over_a_delivery_finished_meanwhile",
        ),
    ),
    Rule(
        "token expiry leeway is 30 s",
        "lgsp/auth/tokens.py",
        "LEEWAY_SECONDS = 30\n",
        "LEEWAY_SECONDS = 30 * 60\n",
        (
            "tests/auth/test_token_rules.py::"
            "test_expiry_is_honoured_within_the_leeway_and_refused_past_it",
        ),
    ),
    Rule(
        "the revocation list reload keeps the live entries",
        "lgsp/auth/tokens.py",
        "select(RevokedToken.jti).where(RevokedToken.expires_at > utcnow())",
        "select(RevokedToken.jti).where(RevokedToken.expires_at < utcnow())",
        (
            "tests/auth/test_token_rules.py::test_a_revocation_reaches_another_process_and_stays",
            "tests/auth/test_token_rules.py::"
            "test_an_expired_revocation_is_forgotten_not_the_live_ones",
        ),
    ),
    Rule(
        "the Idempotency-Key request hash covers `to`",
        "lgsp/exchange/service.py",
        "jsonutil.canonical([request.type, request.to, request.correlation_id])",
        "jsonutil.canonical([request.type, request.correlation_id])",
        ("tests/api/test_accept_rules.py::test_an_idempotency_key_covers_the_recipient",),
    ),
    Rule(
        "the signed batch head covers `sealed_at`",
        "lgsp/messagelog/verify.py",
        '        "sealed_at": batch.sealed_at,\n',
        "",
        ("tests/messagelog/test_seal_verify.py::test_tampered_sealing_time_fails_the_signed_head",),
    ),
    Rule(
        "every CCCD province code is accepted",
        "lgsp/validation/formats.py",
        " 77, 79, 80,",
        " 77, 80,",
        (
            "tests/validation/test_validation_formats.py::"
            "test_cccd_accepts_every_province_code_and_nothing_else",
        ),
    ),
    Rule(
        "504 and the other 5xx are retriable",
        "adapters/lgsp_adapters/base.py",
        "    if status in (408, 425, 429) or status >= 500:",
        "    if status in (408, 425, 429, 500, 502, 503):",
        ("tests/adapters/test_classification.py::test_every_status_has_its_class",),
    ),
    Rule(
        "03x/05x/07x/08x mobile numbers masked in free text",
        "lgsp/messagelog/masking.py",
        r"(?:\+?84|0)[35789]\d{8}",
        r"(?:\+?84|0)[9]\d{8}",
        (
            "tests/messagelog/test_masking.py::"
            "test_mobile_numbers_in_free_text_are_masked_whatever_the_network",
        ),
    ),
    Rule(
        "zeep's forbid_dtd on (forbid_entities still on)",
        "adapters/lgsp_adapters/soap/adapter.py",
        "        forbid_dtd=True,",
        "        forbid_dtd=False,",
        (
            "tests/adapters/test_soap.py::"
            "test_a_dtd_without_entities_is_refused_even_where_byte_checks_miss_it",
        ),
    ),
]


def diff(rule: Rule) -> str:
    text = (ROOT / rule.path).read_text()
    if text.count(rule.old) != 1:
        raise SystemExit(f"{rule.path}: the text to change occurs {text.count(rule.old)} times")
    mutated = text.replace(rule.old, rule.new)
    lines = difflib.unified_diff(
        text.splitlines(),
        mutated.splitlines(),
        f"a/{rule.path}",
        f"b/{rule.path}",
        n=0,
        lineterm="",
    )
    return "\n".join(ln for ln in lines if not ln.startswith(("---", "+++")))


def scratch(rule: Rule | None) -> Path:
    if SCRATCH.exists():
        shutil.rmtree(SCRATCH)
    SCRATCH.mkdir(parents=True)
    for name, path in PACKAGES.items():
        shutil.copytree(ROOT / path, SCRATCH / name, ignore=shutil.ignore_patterns("__pycache__"))
    for entry in LINKED:
        (SCRATCH / entry).symlink_to(ROOT / entry)
    if rule is not None:
        for name, path in PACKAGES.items():
            if rule.path.startswith(path + "/"):
                target = SCRATCH / name / rule.path.removeprefix(path + "/")
                break
        else:
            raise SystemExit(f"{rule.path} is in none of the packages {list(PACKAGES.values())}")
        target.write_text(target.read_text().replace(rule.old, rule.new))
    return SCRATCH


def run_tests(where: Path, tests: tuple[str, ...]) -> tuple[bool, str]:
    """Runs the tests against the packages in ``where`` (first on sys.path: `python -m` puts the
    working directory there, ahead of the editable installs)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *tests],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = (result.stdout + result.stderr).strip().splitlines()
    why = next((ln.strip() for ln in lines if ln.startswith("E ")), "")
    return result.returncode == 0, f"{lines[-1]}; {why}" if why else lines[-1]


def table() -> str:
    out = [
        "| # | Rule | The mutant | Killed by |",
        "|--:|---|---|---|",
    ]
    for i, rule in enumerate(RULES, 1):
        change = "<br>".join(
            f"`{ln.replace('|', chr(92) + '|')}`" for ln in diff(rule).splitlines()
        )
        tests = "<br>".join(f"`{t}`" for t in rule.tests)
        out.append(f"| {i} | {rule.rule} | `{rule.path}`<br>{change} | {tests} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rule", type=int, action="append", default=[], help="rule number")
    parser.add_argument("--table", action="store_true", help="print the table for the docs")
    args = parser.parse_args(argv)
    if args.table:
        print(table())
        return 0
    chosen = args.rule or list(range(1, len(RULES) + 1))
    failed = 0
    for i in chosen:
        rule = RULES[i - 1]
        diff(rule)  # the change must apply
        passed, _ = run_tests(scratch(None), rule.tests)
        if not passed:
            print(f"{i}. {rule.rule}: the tests fail on the unchanged code; nothing to conclude")
            failed += 1
            continue
        for test in rule.tests:
            passed, last = run_tests(scratch(rule), (test,))
            verdict = "killed" if not passed else "SURVIVED"
            failed += passed
            print(f"{i}. {rule.rule}: {verdict} by {test} ({last})", flush=True)
    shutil.rmtree(SCRATCH, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
