"""Retry signals of HTTP providers: status codes, Retry-After and rate-limit reset headers."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from newsletter.deliver.providers import Status
from newsletter.deliver.providers.http import retry_after, status_of

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
