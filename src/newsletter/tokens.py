"""Unsubscribe tokens: an HMAC over the address, so that unsubscribe links cannot be forged.

The key comes from the environment variable named by ``newsletter.secret_env``; when it is
unset, a random key is created once under the state folder (mode 0600) and reused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import time
from pathlib import Path

from newsletter.config import Config
from newsletter.errors import ConfigError, DeliveryError
from newsletter.paths import private_dir

SECRET_FILE = "secret.key"  # noqa: S105 (a file name)
MIN_SECRET_BYTES = 32  # as long as the key file's; a short key can be guessed offline
_MAC_BYTES = 16  # 128 bits: far beyond guessing, keeps the URL short
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def load_secret(config: Config) -> bytes:
    """The HMAC key: ``$<secret_env>`` if set (at least 32 bytes), else ``state_dir/secret.key``
    (made once, 0600)."""
    name = config.newsletter.secret_env
    from_env = os.environ.get(name, "")
    if from_env:
        key = from_env.encode("utf-8")
        if len(key) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"${name} is {len(key)} bytes long; the unsubscribe secret needs at least "
                f"{MIN_SECRET_BYTES} (make one with: python -c 'import secrets; "
                "print(secrets.token_hex(32))'); links already sent were signed with the old "
                "value and stop working when it changes"
            )
        return key
    return _secret_file(config.state_dir / SECRET_FILE)


def _secret_file(path: Path) -> bytes:
    try:
        private_dir(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _read_secret(path)
        key = secrets.token_hex(32)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return key.encode("ascii")
    except OSError as exc:
        raise DeliveryError(
            f"{path}: cannot create the unsubscribe secret: {exc} (set the environment "
            "variable named by 'newsletter.secret_env' instead)"
        ) from exc


def _read_secret(path: Path) -> bytes:
    if path.stat().st_mode & 0o077:
        # Copied or restored with looser rights: anyone who can read it can forge tokens.
        path.chmod(0o600)
    text = path.read_text(encoding="ascii", errors="replace").strip()
    if len(text) < 32:
        # Another process may be writing it right now (it won the O_EXCL race, not yet flushed).
        for _ in range(50):
            time.sleep(0.02)
            text = path.read_text(encoding="ascii", errors="replace").strip()
            if len(text) >= 32:
                break
        else:
            raise DeliveryError(
                f"{path}: the unsubscribe secret is empty or too short; delete the file to make "
                "a new one (links already sent will stop working) or set the secret in the "
                "environment"
            )
    return text.encode("ascii")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    """The bytes of unpadded base64url ``text`` in its one canonical form, else None: no
    padding, no character outside the alphabet, no stray bits in the last character."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        return None
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if _b64(data) == text else None


def _mac(secret: bytes, address: bytes) -> bytes:
    """The MAC of the address exactly as the token carries it (the same bytes, the same case)."""
    digest = hmac.new(secret, b"unsubscribe:" + address, hashlib.sha256)
    return digest.digest()[:_MAC_BYTES]


def make_token(secret: bytes, email: str) -> str:
    """A URL-safe token carrying ``email`` and its HMAC: ``<address>.<mac>``, base64url."""
    address = email.encode("utf-8")
    return f"{_b64(address)}.{_b64(_mac(secret, address))}"


def verify_token(secret: bytes, token: str) -> str | None:
    """The address a token was made for, or None when it is malformed, forged, or not in the
    exact form ``make_token`` writes (each token has one spelling; the MAC covers the address's
    exact bytes, so another case of the address does not verify)."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 2000:
        return None
    address_part, mac_part = token.split(".")
    address, mac = _unb64(address_part), _unb64(mac_part)
    if address is None or mac is None or len(mac) != _MAC_BYTES:
        return None
    if not hmac.compare_digest(mac, _mac(secret, address)):
        return None
    try:
        email = address.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return email if "@" in email else None
