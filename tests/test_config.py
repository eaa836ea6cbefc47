"""schedule.yaml loading: the sample loads, and every kind of mistake names its key and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.deliver.settings import check_delivery
from newsletter.errors import ConfigError

MINIMAL = """\
newsletter:
  title: "Le Jeudi"
  sender: {name: "Le RAMEAU", email: "jeudi@example.org"}
  web_url: "https://example.org/jeudi"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schedule.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> tuple[str, ...]:
    """The problems of loading ``path`` as the faces do (the delivery part is checked too)."""
    with pytest.raises(ConfigError) as info:
        check_delivery(load_config(path))
    return tuple(map(str, info.value.problems))


def test_sample_config_loads(repo_root: Path) -> None:
    config = load_config(repo_root / "schedule.yaml")
    assert config.newsletter.title == "Le Jeudi de l'ODD 17"
    assert config.newsletter.timezone == "Europe/Paris"
    assert [s.id for s in config.sections] == ["territoires", "publications", "agenda"]
    assert config.delivery.provider == "outbox"
    assert config.state_dir == repo_root / ".newsletter"
    assert config.jobs.send is not None and config.jobs.send.require_approval


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.newsletter.language == "fr"
    assert config.newsletter.window_days == 7
    assert config.paths.state == ".newsletter"
    assert config.bulletins_dir == tmp_path / "bulletins"
    assert [s.id for s in config.sections] == ["territoires", "publications", "agenda"]
    assert config.newsletter.unsubscribe_url_template == (
        "https://example.org/jeudi/unsubscribe/{token}"
    )


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("colour: red\n", "schedule.yaml:5: unknown key 'colour'"),
        ("paths:\n  stat: x\n", "schedule.yaml:6: unknown key 'paths.stat'"),
        (
            "sources:\n  - {name: a, feed: a.xml, section: territoires, max_items: lots}\n",
            "schedule.yaml:6: sources.0.max_items: Input should be a valid integer",
        ),
        (
            "jobs:\n  collect: {cron: '0 25 * * wed'}\n",
            "schedule.yaml:6: jobs.collect.cron: invalid cron expression '0 25 * * wed'",
        ),
        (
            "jobs:\n  send:\n    cron: '0 9 * * thu'\n    require_approval: maybe\n",
            "schedule.yaml:8: jobs.send.require_approval: Input should be a valid boolean",
        ),
        (
            "delivery:\n  provider: pigeon\n",
            "schedule.yaml:6: delivery.provider: 'pigeon' is not a provider; ",
        ),
        (
            "delivery:\n  test_recipients: ['not-an-address']\n",
            "schedule.yaml:6: delivery.test_recipients.0: 'not-an-address' is not a valid email",
        ),
    ],
)
def test_each_error_names_key_and_line(tmp_path: Path, extra: str, expected: str) -> None:
    problems = problems_of(write(tmp_path, MINIMAL + extra))
    assert any(p.startswith(f"{tmp_path}/{expected}") for p in problems), problems


def test_bad_time_zone(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        '  title: "Le Jeudi"\n', '  title: "Le Jeudi"\n  timezone: Europe/Pariss\n'
    )
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.endswith(
        "schedule.yaml:3: newsletter.timezone: unknown time zone 'Europe/Pariss' "
        "(use an IANA name such as 'Europe/Paris')"
    )


def test_missing_required_keys(tmp_path: Path) -> None:
    text = "newsletter:\n  title: x\n  web_url: 'https://example.org'\n"
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.endswith("schedule.yaml:1: missing required key 'newsletter.sender'")
    (problem,) = problems_of(write(tmp_path, "sections: []\n"))
    assert "schedule.yaml:1: missing required key 'newsletter'" in problem


def test_wrong_type_of_section(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, MINIMAL + "sections: territoires\n"))
    assert any("schedule.yaml:5: sections: must be a list ('- ' lines" in p for p in problems)


def test_several_problems_in_line_order(tmp_path: Path) -> None:
    text = MINIMAL.replace("Le Jeudi", "X") + "paths: {stat: x}\njobs:\n  send: {cron: nope}\n"
    problems = problems_of(write(tmp_path, text))
    lines = [int(p.split(":")[1]) for p in problems]
    assert lines == sorted(lines) and len(problems) == 2


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    (problem,) = problems_of(write(tmp_path, MINIMAL + "sources:\n  - {name: a\n"))
    assert ":7: invalid YAML" in problem or ":6: invalid YAML" in problem


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    (problem,) = problems_of(write(tmp_path, MINIMAL + "paths: {}\npaths: {}\n"))
    assert "invalid YAML" in problem and "paths" in problem


def test_unsubscribe_url_needs_token_slot(tmp_path: Path) -> None:
    text = MINIMAL + "  unsubscribe_url: 'https://example.org/u'\n"
    (problem,) = problems_of(write(tmp_path, text))
    assert ":5: newsletter.unsubscribe_url: must contain '{token}'" in problem


def test_cli_prints_one_line_and_exits_1(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "colour: red\n")
    result = CliRunner().invoke(app, ["new", "2026-12-03", "--config", str(path)])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {path}:5: unknown key 'colour'"
    assert "Traceback" not in result.output


def test_config_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, MINIMAL)
    monkeypatch.setenv("NEWSLETTER_CONFIG", str(path))
    monkeypatch.chdir(tmp_path.parent)
    result = CliRunner().invoke(app, ["new", "2026-12-03"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "bulletins" / "2026-12-03" / "issue.md").is_file()


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["new", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "no such config file" in result.stderr


@pytest.mark.parametrize(
    ("expr", "weekday"),
    [("0 9 * * 4", "thu"), ("0 9 * * thu", "thu"), ("0 9 * * 0", "sun"), ("0 9 * * 7", "sun")],
)
def test_cron_weekdays_mean_what_crontab_means(expr: str, weekday: str) -> None:
    from datetime import UTC, datetime

    from newsletter.cron import cron_trigger

    fire = cron_trigger(expr, "Europe/Paris").get_next_fire_time(
        None, datetime(2026, 11, 26, 12, tzinfo=UTC)
    )
    assert fire is not None and fire.strftime("%a").lower() == weekday


def test_cron_ranges_and_steps_follow_crontab() -> None:
    from newsletter.cron import crontab_weekdays

    assert crontab_weekdays("1-5") == "mon,tue,wed,thu,fri"
    assert crontab_weekdays("*/2") == "sun,tue,thu,sat"
    assert crontab_weekdays("0,3") == "sun,wed"
    with pytest.raises(ValueError, match="out of range"):
        crontab_weekdays("8")


def test_source_with_unknown_section(tmp_path: Path) -> None:
    text = MINIMAL + "sources:\n  - name: a\n    feed: a.xml\n    section: territoire\n"
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.endswith(
        "schedule.yaml:8: sources.0.section: unknown section 'territoire' "
        "(sections: territoires, publications, agenda)"
    )


def test_duplicate_section_ids_and_source_names(tmp_path: Path) -> None:
    text = MINIMAL + (
        "sections:\n  - {id: a, title: A}\n  - {id: a, title: B}\n"
        "sources:\n  - {name: s, feed: a.xml, section: a}\n  - {name: s, feed: b.xml, section: a}\n"
    )
    problems = problems_of(write(tmp_path, text))
    assert [p.split(":", 1)[1] for p in problems] == [
        "7: sections.1.id: duplicate id 'a'",
        "10: sources.1.name: duplicate name 's'",
    ]


def test_config_option_before_or_after_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = write(tmp_path, MINIMAL)
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("NEWSLETTER_CONFIG", str(tmp_path / "missing.yaml"))
    before = CliRunner().invoke(app, ["--config", str(good), "new", "2026-12-03"])
    assert before.exit_code == 0, before.output
    after = CliRunner().invoke(app, ["new", "2026-12-10", "--config", str(good)])
    assert after.exit_code == 0, after.output
    env_only = CliRunner().invoke(app, ["new", "2026-12-17"])
    assert env_only.exit_code == 1 and "missing.yaml: no such config file" in env_only.stderr


def test_friendly_messages_for_common_shapes(tmp_path: Path) -> None:
    text = (
        MINIMAL.replace(
            'sender: {name: "Le RAMEAU", email: "jeudi@example.org"}', 'sender: "jeudi@example.org"'
        )
        + "sections:\n  - {id: Territoires, title: T}\ndelivery:\n  audience: {list_id: 12}\n"
    )
    problems = problems_of(write(tmp_path, text))
    assert [p.split(":", 1)[1] for p in problems] == [
        "3: newsletter.sender: must be a mapping of keys to values (key: value lines, or {...})",
        "6: sections.0.id: 'Territoires' is not a valid section id: use lowercase letters, "
        "digits, '-' and '_' (for example 'territoires')",
    ]


def test_unsubscribe_links_must_be_https(tmp_path: Path) -> None:
    text = MINIMAL + "  unsubscribe_url: 'http://example.org/u/{token}'\n"
    (problem,) = problems_of(write(tmp_path, text))
    assert ":5: newsletter.unsubscribe_url: must be an https URL" in problem
    plain = MINIMAL.replace("https://example.org/jeudi", "http://example.org/jeudi")
    (problem,) = problems_of(write(tmp_path, plain))
    assert "set an https 'unsubscribe_url'" in problem


def test_feed_with_an_unsupported_scheme(tmp_path: Path) -> None:
    text = MINIMAL + "sources:\n  - {name: a, feed: 'ftp://example.org/f.xml', section: agenda}\n"
    (problem,) = problems_of(write(tmp_path, text))
    assert ":6: sources.0.feed: 'ftp://example.org/f.xml': a feed is an http(s) URL" in problem
    ok = MINIMAL + "sources:\n  - {name: a, feed: 'samples/f.xml', section: agenda}\n"
    assert load_config(write(tmp_path, ok)).sources[0].feed == "samples/f.xml"


def test_errors_found_later_still_name_the_config_line(sample_project: Path) -> None:
    """A provider option is checked when the provider is built; the CLI still names its line."""
    config = sample_project / "schedule.yaml"
    text = config.read_text(encoding="utf-8").replace(
        "  options: {}", "  options:\n    batch_size: 0"
    )
    config.write_text(text, encoding="utf-8")
    line = text.splitlines().index("    batch_size: 0") + 1
    result = CliRunner().invoke(app, ["send", "2026-12-03", "--dry-run", "--config", str(config)])
    assert result.exit_code == 1
    assert f"{config}:{line}: delivery.options.batch_size:" in result.stderr
