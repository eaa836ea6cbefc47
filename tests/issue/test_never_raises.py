"""Nothing an editor writes makes the issue stage raise: every mistake comes back as a finding.

Hypothesis writes arbitrary front matter values and arbitrary bytes into the files of a real
issue folder; ``prepare`` must answer with a PreparedIssue every time.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.config import Config, load_config
from newsletter.deliver.settings import check_delivery
from newsletter.errors import NewsletterError
from newsletter.issue.prepare import PreparedIssue, prepare

REPO = Path(__file__).resolve().parents[2]
DAY = date(2026, 12, 3)
ITEM_KEYS = ("title", "url", "section", "territory", "image", "image_alt", "date", "autre")
ISSUE_KEYS = ("number", "subject", "preheader", "status", "sections", "theme", "editor_items")
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Values as an editor might type them after 'key: ', odd ones included.
raw_values = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}(:[0-9]{2})?)?\Z"),
    st.from_regex(r"\A[0-9]{1,2}/[0-9]{1,2}/[0-9]{2,4}\Z"),
    st.sampled_from(
        [
            "2026-02-30",
            "2026-13-01",
            "9999-12-31 25:61",
            "[a, b",
            "{x: 1}",
            "!!binary aGVsbG8=",
            "!!timestamp 2026-02-30",
            "!!int abc",
            "!!float x",
            "&a [*a]",
            "*nope",
            "|",
            ">-",
            "~",
            "1e999",
            "0x1F",
            "-.inf",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]",
            "https://exa mple.org/",
            "javascript:alert(1)",
            "\t\tindent",
        ]
    ),
)


@pytest.fixture(scope="module")
def project() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="never-raises-"))
    shutil.copyfile(REPO / "schedule.yaml", root / "schedule.yaml")
    shutil.copytree(REPO / "samples", root / "samples")
    shutil.copytree(
        REPO / "bulletins", root / "bulletins", ignore=shutil.ignore_patterns("collected.yaml*")
    )
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _folder(project: Path) -> Path:
    return project / "bulletins" / DAY.isoformat()


def _prepare(project: Path) -> PreparedIssue:
    config: Config = load_config(project / "schedule.yaml")
    prepared = prepare(config, DAY)
    assert isinstance(prepared, PreparedIssue)
    for finding in prepared.findings:
        assert str(finding)  # every finding can be shown
    return prepared


@PROPERTY
@given(values=st.dictionaries(st.sampled_from(ITEM_KEYS), raw_values, max_size=8))
def test_any_item_front_matter_gives_findings(project: Path, values: dict[str, str]) -> None:
    lines = "".join(f"{key}: {value}\n" for key, value in values.items())
    path = _folder(project) / "hypothese.md"
    path.write_text(f"---\n{lines}---\nUn résumé.\n", encoding="utf-8", errors="surrogatepass")
    try:
        _prepare(project)
    finally:
        path.unlink()


@PROPERTY
@given(values=st.dictionaries(st.sampled_from(ISSUE_KEYS), raw_values, max_size=8))
def test_any_issue_settings_give_findings(project: Path, values: dict[str, str]) -> None:
    path = _folder(project) / "issue.md"
    original = path.read_bytes()
    lines = "".join(f"{key}: {value}\n" for key, value in values.items())
    path.write_text(f"---\n{lines}---\nBonjour,\n", encoding="utf-8", errors="surrogatepass")
    try:
        _prepare(project)
    finally:
        path.write_bytes(original)


@PROPERTY
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.builds(
            lambda head, body: f"---\n{head}\n---\n{body}".encode("utf-8", "surrogatepass"),
            st.text(max_size=200),
            st.text(max_size=100),
        ),
    ),
    name=st.sampled_from(["issue.md", "hypothese.md", "collected.yaml"]),
)
def test_any_bytes_in_any_file_give_findings(project: Path, data: bytes, name: str) -> None:
    path = _folder(project) / name
    original = path.read_bytes() if path.exists() else None
    path.write_bytes(data)
    try:
        _prepare(project)
    finally:
        if original is None:
            path.unlink()
        else:
            path.write_bytes(original)


@PROPERTY
@given(
    entry=st.dictionaries(
        st.sampled_from(
            ("id", "include", "title", "url", "summary", "published", "image", "section", "x")
        ),
        raw_values,
        max_size=8,
    )
)
def test_any_draft_entry_gives_findings(project: Path, entry: dict[str, str]) -> None:
    lines = "".join(f"      {key}: {value}\n" for key, value in entry.items())
    path = _folder(project) / "collected.yaml"
    path.write_text(
        f"issue: '2026-12-03'\nsections:\n  territoires:\n    - id: fixe\n{lines}",
        encoding="utf-8",
        errors="surrogatepass",
    )
    try:
        _prepare(project)
    finally:
        path.unlink()


def test_an_impossible_date_is_a_finding_with_its_line(project: Path) -> None:
    path = _folder(project) / "rencontre.md"
    path.write_text(
        "---\ntitle: Rencontre\nurl: https://example.org/r\nsection: agenda\n"
        "date: 2026-02-30\n---\nTexte.\n",
        encoding="utf-8",
    )
    try:
        prepared = _prepare(project)
    finally:
        path.unlink()
    messages = [str(f) for f in prepared.errors]
    assert any(
        m.startswith("bulletins/2026-12-03/rencontre.md:5: 'date'") and "2026-02-30" in m
        for m in messages
    ), messages


@settings(max_examples=200, deadline=None)
@given(
    key=st.sampled_from(
        [
            "newsletter.title",
            "newsletter.sender.name",
            "newsletter.timezone",
            "newsletter.window_days",
            "newsletter.web_url",
            "collect.summary_words",
            "theme.primary_color",
            "jobs.send.cron",
            "delivery.provider",
            "delivery.options.batch_size",
            "subscribe.confirm_days",
        ]
    ),
    value=raw_values,
)
def test_any_config_value_is_a_config_error_or_a_config(
    tmp_path_factory: pytest.TempPathFactory, key: str, value: str
) -> None:
    """schedule.yaml values never crash: a config comes back, or a ConfigError with a line."""
    folder = tmp_path_factory.mktemp("config")
    values = {
        "newsletter.title": '"Le Jeudi"',
        "newsletter.web_url": '"https://jeudi.fr"',
        "newsletter.sender.name": '"Le RAMEAU"',
        "newsletter.sender.email": '"jeudi@jeudi.fr"',
    }
    values[key] = value
    text, opened = "", []
    for dotted, raw in sorted(values.items()):
        parts = dotted.split(".")
        common = 0
        while common < min(len(opened), len(parts) - 1) and opened[common] == parts[common]:
            common += 1
        opened = opened[:common]
        for depth in range(common, len(parts) - 1):
            text += f"{'  ' * depth}{parts[depth]}:\n"
            opened.append(parts[depth])
        text += f"{'  ' * (len(parts) - 1)}{parts[-1]}: {raw}\n"
    path = folder / "schedule.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        config = load_config(path)
        check_delivery(config)
    except NewsletterError as exc:
        assert all(str(problem) for problem in exc.problems)
