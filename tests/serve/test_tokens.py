"""Unsubscribe tokens have one spelling: strict base64url, and the MAC covers the address's exact
bytes. Tokens already sent in that spelling (every lower-case address) keep verifying."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.tokens import make_token, verify_token

KEY = b"k" * 32
EMAIL = "marie.dupont@example.org"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def token_of_the_previous_release(secret: bytes, email: str) -> str:
    """What ``make_token`` wrote before: the MAC was over the lower-cased address."""
    mac = hmac.new(secret, b"unsubscribe:" + email.lower().encode(), hashlib.sha256).digest()
    return f"{b64(email.encode())}.{b64(mac[:16])}"


def test_tokens_already_sent_for_lower_case_addresses_still_verify() -> None:
    old = token_of_the_previous_release(KEY, EMAIL)
    assert old == make_token(KEY, EMAIL)
    assert verify_token(KEY, old) == EMAIL
    # with capitals, the old MAC was over another spelling: such links no longer verify
    assert verify_token(KEY, token_of_the_previous_release(KEY, "Marie@example.org")) is None


def test_another_case_of_the_address_does_not_verify() -> None:
    _address, mac = make_token(KEY, EMAIL).split(".")
    for variant in ("Marie.Dupont@example.org", "MARIE.DUPONT@EXAMPLE.ORG"):
        assert verify_token(KEY, f"{b64(variant.encode())}.{mac}") is None
    mixed = make_token(KEY, "Marie.Dupont@Example.org")
    assert verify_token(KEY, mixed) == "Marie.Dupont@Example.org"
    lowered = f"{b64(b'marie.dupont@example.org')}.{mixed.split('.')[1]}"
    assert verify_token(KEY, lowered) is None


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
SHORT = "marie@example.org"  # 17 bytes: base64 would pad it with one '='


def spellings(token: str) -> list[str]:
    address, mac = token.split(".")
    padded = base64.urlsafe_b64encode(SHORT.encode()).decode()
    assert padded.endswith("=") and not padded.endswith("==")
    # 22 characters carry the 16 bytes of the MAC and 4 unused bits, which must be 0
    stray_bit = mac[:-1] + ALPHABET[ALPHABET.index(mac[-1]) ^ 1]
    return [
        f"{padded}.{mac}",  # padding
        f"{address}.{mac}=",
        f"{address}.{mac}==",
        f"{address}.{mac}\n",
        f" {address}.{mac}",
        f"{address}.{mac}A",  # one character more
        f"{address}.{mac}AAAA",  # four more: still base64, a longer MAC
        f"{address[:5]}!{address[5:]}.{mac}",  # non-alphabet characters were skipped before
        f"{address[:5]}\n{address[5:]}.{mac}",
        f"{address}.{stray_bit}",
        f"{address.replace('-', '+').replace('_', '/')}.{mac.replace('-', '+').replace('_', '/')}",
    ]


def test_any_other_spelling_of_a_token_does_not_verify() -> None:
    token = make_token(KEY, SHORT)
    assert verify_token(KEY, token) == SHORT
    for other in spellings(token):
        if other != token:
            assert verify_token(KEY, other) is None, repr(other)


@pytest.mark.parametrize("email", ["a@b.c", "ab@c.d", "abc@de.f", "élodie@exemple.fr", "a+b@c.d"])
def test_round_trip_whatever_the_padding(email: str) -> None:
    assert verify_token(KEY, make_token(KEY, email)) == email


@given(st.text(max_size=300))
def test_verify_never_raises(text: str) -> None:
    assert verify_token(KEY, text) is None


@given(st.emails())
def test_every_address_round_trips(email: str) -> None:
    token = make_token(KEY, email)
    assert verify_token(KEY, token) == email
    assert verify_token(KEY, token.swapcase()) in (None, email)
