"""HTTP provider helpers: status codes, Retry-After and reset headers, unsubscribe links."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from newsletter.config import Config, load_config
from newsletter.deliver.providers import Status
from newsletter.deliver.providers.http import UnsubscribeLinks, retry_after, status_of
from newsletter.message import unsubscribe_url

from .conftest import write_config

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def test_status_codes() -> None:
    assert status_of(202) is Status.SENT
    assert status_of(429) is Status.RETRYABLE and status_of(503) is Status.RETRYABLE
    assert status_of(400) is Status.PERMANENT and status_of(401) is Status.PERMANENT


def test_retry_after_forms() -> None:
    assert retry_after({"Retry-After": "7"}, NOW) == 7
    assert retry_after({"retry-after": "Thu, 03 Dec 2026 08:00:30 GMT"}, NOW) == 30
    assert retry_after({"x-sib-ratelimit-reset": "12"}, NOW) == 12
    assert retry_after({"X-RateLimit-Reset": str(int(NOW.timestamp()) + 45)}, NOW) == 45
    assert retry_after({"Retry-After": "soon", "ratelimit-reset": "3"}, NOW) == 3
    assert retry_after({"Retry-After": "-5"}, NOW) is None
    assert retry_after({}, NOW) is None


@given(
    st.dictionaries(
        st.sampled_from(["Retry-After", "x-ratelimit-reset", "X-Other"]), st.text(max_size=40)
    )
)
def test_retry_after_never_raises(headers: dict[str, str]) -> None:
    value = retry_after(headers, NOW)
    assert value is None or value >= 0


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return load_config(write_config(tmp_path_factory.mktemp("links")))


@given(email=st.text(min_size=1, max_size=80), secret=st.binary(min_size=1, max_size=200))
def test_unsubscribe_links_are_the_tokens_of_the_message(
    config: Config, email: str, secret: bytes
) -> None:
    # The providers' fast path must give exactly the link newsletter.message builds (and that
    # the serve stage verifies), for any address and any secret (longer than a block too).
    assume(all(not 0xD800 <= ord(c) <= 0xDFFF for c in email))  # not encodable in UTF-8
    assert UnsubscribeLinks(config, secret).url(email) == unsubscribe_url(config, secret, email)
