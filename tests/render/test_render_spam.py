"""The built email.eml scores under 1.0 with SpamAssassin run locally (network tests off).

Prints the rules that fired, so a rise in score is easy to explain (pytest -s shows them).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from render_helpers import require_tool

from newsletter.cli import app
from newsletter.config import Config
from newsletter.message import build_message
from newsletter.model import Issue, Recipient
from newsletter.render import render_issue
from newsletter.tokens import load_secret

MAX_SCORE = 1.0
_SCORE = re.compile(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", re.MULTILINE)
_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*)$", re.MULTILINE)


def spam_score(message: bytes, report: Path | None = None) -> tuple[float, list[str]]:
    require_tool(shutil.which("spamassassin") is not None, "spamassassin")
    result = subprocess.run(
        ["spamassassin", "-L", "-t"],
        input=message,
        capture_output=True,
        timeout=180,
        check=False,
    )
    score, rules = parse_report(result.stdout.decode("utf-8", "replace"))
    if report is not None:
        report.write_text(f"score {score}\n" + "\n".join(rules) + "\n", encoding="utf-8")
    return score, rules


def parse_report(output: str) -> tuple[float, list[str]]:
    """The score and the rules that fired, from the first report table of ``spamassassin -t``
    (a message marked as spam carries a second copy of it, in the wrapped original)."""
    found = _SCORE.search(output)
    assert found, f"no X-Spam-Status in spamassassin output:\n{output[:2000]}"
    start = output.find(" pts rule name")
    table = output[start:].split("\n\n", 1)[0] if start >= 0 else ""
    rules = [f"{m.group(1):>5} {m.group(2)} {m.group(3).strip()}" for m in _RULE.finditer(table)]
    return float(found.group(1)), rules


def test_sample_issue_message_scores_low(issue: Issue, config: Config, artifacts: Path) -> None:
    rendered = render_issue(issue, config)
    recipient = Recipient(email="marie.dupont@example.org", name="Marie Dupont", first_name="Marie")
    message = build_message(rendered, recipient, config, secret=load_secret(config))
    score, rules = spam_score(message.as_bytes(), artifacts / "spamassassin-sample.txt")
    print(f"\nSpamAssassin score {score} for the sample issue; rules:\n" + "\n".join(rules))
    assert score < MAX_SCORE, rules


def test_built_eml_scores_low(sample_project: Path, artifacts: Path) -> None:
    result = CliRunner().invoke(
        app, ["build", "2026-12-03", "--config", str(sample_project / "schedule.yaml")]
    )
    assert result.exit_code == 0, result.output
    eml = sample_project / "build" / "2026-12-03" / "email.eml"
    score, rules = spam_score(eml.read_bytes(), artifacts / "spamassassin-build.txt")
    print(f"\nSpamAssassin score {score} for {eml.name}; rules:\n" + "\n".join(rules))
    assert score < MAX_SCORE, rules


def test_demo_issue_eml_scores_low(demo_build: Path, artifacts: Path) -> None:
    eml = demo_build / "email.eml"
    score, rules = spam_score(eml.read_bytes(), artifacts / "spamassassin-demo.txt")
    print(f"\nSpamAssassin score {score} for the demo issue; rules:\n" + "\n".join(rules))
    assert score < MAX_SCORE, rules


@pytest.mark.parametrize("sample", ["score=0.4 required=5.0", "score=-0.1 required=5.0"])
def test_score_parser(sample: str) -> None:
    assert _SCORE.search(f"X-Spam-Status: No, {sample} tests=NONE")


def test_report_parser_reads_each_rule_once_with_integer_scores() -> None:
    table = (
        "Content analysis details:   (1003.3 points, 5.0 required)\n\n"
        " pts rule name              description\n"
        "---- ---------------------- --------------------------------------------------\n"
        "1000 GTUBE                  BODY: Generic Test for Unsolicited Bulk Email\n"
        " 2.7 MISSING_DATE           Missing Date: header\n"
    )
    output = f"X-Spam-Status: Yes, score=1003.3 required=5.0 tests=GTUBE\n\n{table}\n{table}"
    score, rules = parse_report(output)
    assert score == 1003.3
    assert [rule.split()[1] for rule in rules] == ["GTUBE", "MISSING_DATE"]
