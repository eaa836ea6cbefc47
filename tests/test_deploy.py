"""`newsletter init` writes deploy/: systemd units that `systemd-analyze verify` accepts, the
secrets' environment file template, and an nginx site that `nginx -t` accepts; all filled from
the project and the running virtual environment, never overwriting a file already there."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from newsletter.deliver.providers import BUILTIN_PROVIDERS, provider_class
from newsletter.deploy import (
    DEPLOY_FILES,
    PLACEHOLDER_BIN,
    UNITS,
    render_deploy_files,
    running_venv_bin,
    settings_for,
)
from newsletter.scaffold import scaffold_project

VENV_BIN = Path(sys.executable).parent
COMMANDS = {
    "newsletter-scheduler.service": "schedule run",
    "newsletter-serve.service": "serve --host 127.0.0.1 --port 8018",
    "newsletter-desk.service": "desk --host 127.0.0.1",
}


def tool(name: str, package: str) -> str:
    """The path of a system tool; skipped with one line when it is missing, failed under CI."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing in CI: run .ci/render-deps.sh")
        pytest.skip(
            f"{name} is missing: sudo apt-get install {package}, or run 'make test' as root"
        )
    return found


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


@pytest.fixture
def project(tmp_path: Path) -> Path:
    if running_venv_bin() is None or not (VENV_BIN / "newsletter").exists():
        pytest.skip("the tests run outside a virtual environment with the newsletter command")
    project = tmp_path / "srv" / "jeudi"
    scaffold_project(project)
    return project


def test_init_writes_the_deploy_folder(project: Path) -> None:
    deploy = project / "deploy"
    assert sorted(p.name for p in deploy.iterdir()) == sorted(DEPLOY_FILES)
    state, bulletins = project / ".newsletter", project / "bulletins"
    for unit, command in COMMANDS.items():
        text = (deploy / unit).read_text(encoding="utf-8")
        assert "@@" not in text
        found = directives(text)
        assert found["ExecStart"] == [f"{VENV_BIN}/newsletter {command}"]
        assert found["User"] == ["newsletter"] and found["Group"] == ["newsletter"]
        assert found["WorkingDirectory"] == [str(project)]
        assert found["Environment"][0] == f"NEWSLETTER_CONFIG={project}/schedule.yaml"
        assert found["EnvironmentFile"] == ["/etc/newsletter/newsletter.env"]
        assert found["Restart"] == ["on-failure"]
        assert found["WantedBy"] == ["multi-user.target"]
        for key, value in {
            "NoNewPrivileges": "yes",
            "ProtectSystem": "strict",
            "PrivateTmp": "yes",
            "ProtectHome": "yes",
            "ProtectKernelTunables": "yes",
            "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
            "CapabilityBoundingSet": "",
        }.items():
            assert found[key] == [value], (unit, key)
        writable = found["ReadWritePaths"][0].split()
        assert writable[0] == str(state)
        if unit != "newsletter-serve.service":
            assert str(bulletins) in writable  # collect and the desk write the issues
    scheduler = directives((deploy / "newsletter-scheduler.service").read_text(encoding="utf-8"))
    assert f"-{project}/archive" in scheduler["ReadWritePaths"][0].split()


def test_init_never_overwrites_a_deploy_file(project: Path) -> None:
    unit = project / "deploy" / "newsletter-serve.service"
    unit.write_text("# my own unit\n", encoding="utf-8")
    (project / "deploy" / "nginx-newsletter.conf").unlink()
    created, kept = scaffold_project(project)
    assert unit in kept and unit.read_text(encoding="utf-8") == "# my own unit\n"
    assert created == [project / "deploy" / "nginx-newsletter.conf"]


def test_systemd_analyze_verify_accepts_the_units(project: Path) -> None:
    analyze = tool("systemd-analyze", "systemd")
    units = [str(project / "deploy" / name) for name in UNITS]
    done = subprocess.run(
        [analyze, "verify", *units], capture_output=True, text=True, timeout=120, check=False
    )
    # verify does not look up User= (the user is made on the server) but does check that
    # ExecStart's command exists: here, the newsletter of this virtual environment.
    assert done.returncode == 0 and done.stderr == "", done.stderr
    broken = project / "deploy" / "broken.service"
    text = Path(units[0]).read_text(encoding="utf-8")
    broken.write_text(text.replace(f"{VENV_BIN}/newsletter", "/nonexistent/newsletter"))
    refused = subprocess.run(
        [analyze, "verify", str(broken)], capture_output=True, text=True, timeout=120, check=False
    )
    assert refused.returncode != 0 and "/nonexistent/newsletter" in refused.stderr


def test_the_environment_file_names_every_secret(tmp_path: Path) -> None:
    project = tmp_path / "jeudi"
    scaffold_project(project)
    config_file = project / "schedule.yaml"
    text = config_file.read_text(encoding="utf-8")
    text = text.replace("provider: outbox ", "provider: sendgrid")
    text = text.replace("secret_env: NEWSLETTER_SECRET ", "secret_env: JEUDI_SECRET      ")
    text += (
        "notify:\n  provider: smtp\n  options: {host: smtp.example.org, port: 587, "
        "username_env: ALERT_SMTP_USER, password_env: ALERT_SMTP_PASSWORD}\n"
    )
    config_file.write_text(text, encoding="utf-8")
    env = render_deploy_files(settings_for(project))["newsletter.env.example"]
    lines = env.splitlines()
    for name in ("JEUDI_SECRET", "SENDGRID_API_KEY", "ALERT_SMTP_USER", "ALERT_SMTP_PASSWORD"):
        assert f"{name}=" in lines, name
    assert "#NEWSLETTER_DATABASE_URL=" in lines
    assert "NEWSLETTER_SECRET=" not in lines
    # every other provider's key, from its options model, ready to uncomment
    for provider in BUILTIN_PROVIDERS:
        for key, info in provider_class(provider).options_model.model_fields.items():
            if key.endswith("_env") and isinstance(info.default, str) and provider != "sendgrid":
                assert f"#{info.default}=" in lines, provider
    assert not [line for line in lines if re.match(r"^[A-Z_]+=.", line)]  # no values


def test_outside_a_venv_the_command_is_a_placeholder(project: Path) -> None:
    settings = replace(settings_for(project), bin_dir=None)
    unit = render_deploy_files(settings)["newsletter-scheduler.service"]
    assert f"ExecStart={PLACEHOLDER_BIN}/newsletter schedule run" in unit
    assert "is a placeholder" in unit


def test_a_config_that_does_not_load_gives_the_defaults(tmp_path: Path) -> None:
    project = tmp_path / "jeudi"
    project.mkdir()
    (project / "schedule.yaml").write_text(
        "newsletter: [\nwebhooks: {mailgun: {signing_key_env: MAILGUN_SIGNING_KEY}}\n",
        encoding="utf-8",
    )
    files = render_deploy_files(settings_for(project, bin_dir=VENV_BIN))
    assert "MAILGUN_SIGNING_KEY=" in files["newsletter.env.example"].splitlines()
    assert f"ReadWritePaths={project.resolve()}/.newsletter\n" in files["newsletter-serve.service"]


def test_a_project_under_home_keeps_home_readable(tmp_path: Path, project: Path) -> None:
    settings = replace(settings_for(project), project=Path("/home/jeudi/lettre"))
    unit = render_deploy_files(settings)["newsletter-serve.service"]
    assert directives(unit)["ProtectHome"] == ["read-only"]


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.org")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_the_nginx_site(project: Path, tmp_path: Path) -> None:
    site = (project / "deploy" / "nginx-newsletter.conf").read_text(encoding="utf-8")
    assert "@@" not in site
    for needed in (
        "server_name example.org;",
        "server_name desk.example.org;",
        "location /jeudi/unsubscribe/ {",
        "location = /subscribe {",
        "location /confirm/ {",
        "location /jeudi/confirm/ {",  # the sample's confirmation links
        "location /webhooks/ {",
        f"alias {project}/archive/;",
        "server 127.0.0.1:8018;",
        "server 127.0.0.1:8017;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header Host $host;",
        'add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;',
        "# The certificate goes here",
        "return 301 https://$host$request_uri;",
    ):
        assert needed in site, needed
    nginx = tool("nginx", "nginx-light")
    cert, key = _self_signed(tmp_path)
    site = site.replace("/etc/letsencrypt/live/example.org/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/example.org/privkey.pem", str(key))
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    (tmp_path / "logs").mkdir()
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\n"
        "events {}\nhttp {\n"
        f"    access_log {tmp_path}/logs/access.log;\n"
        f"    client_body_temp_path {tmp_path}/body;\n    proxy_temp_path {tmp_path}/proxy;\n"
        f"    fastcgi_temp_path {tmp_path}/fcgi;\n    uwsgi_temp_path {tmp_path}/uwsgi;\n"
        f"    scgi_temp_path {tmp_path}/scgi;\n"
        f"    include {tmp_path}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [
            nginx,
            "-t",
            "-q",
            "-p",
            str(tmp_path),
            "-e",
            "stderr",
            "-c",
            str(tmp_path / "nginx.conf"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_a_percent_in_a_path_is_not_a_systemd_specifier(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze", "systemd")
    if running_venv_bin() is None:
        pytest.skip("the tests run outside a virtual environment")
    project = tmp_path / "lettre-100%"
    scaffold_project(project)
    unit = project / "deploy" / "newsletter-serve.service"
    assert f"WorkingDirectory={tmp_path}/lettre-100%%\n" in unit.read_text(encoding="utf-8")
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
