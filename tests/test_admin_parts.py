"""The dashboard's parts on their own: login limits, sessions, charts, the report's figures."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from fastapi import HTTPException
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from newsletter.accounts import throttle
from newsletter.delivery.engine import start_send
from newsletter.delivery.models import Delivery
from newsletter.events.service import ingest_verified
from newsletter.services import Services
from newsletter.web.admin import actions as admin_actions
from newsletter.web.admin.auth import SESSION_COOKIE, AdminAuth
from newsletter.web.admin.charts import line_chart
from subscribers.models import Subscriber
from tests.admin_support import SLUG, admin_services
from tests.webhook_support import body_of, event

__all__ = ["admin_services"]


def auth(secret: str = "k" * 32) -> AdminAuth:
    return AdminAuth(secret_key=secret)


def request_with(cookies: dict[str, str]) -> Request:
    header = "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()
    scope: dict[str, Any] = {"type": "http", "headers": [(b"cookie", header)]}
    return Request(scope)


def session_cookie(response: Response) -> str:
    for name, value in response.raw_headers:
        if name == b"set-cookie" and value.startswith(SESSION_COOKIE.encode() + b"="):
            return value.split(b";")[0].split(b"=", 1)[1].decode()
    raise AssertionError("no session cookie")


def test_login_waits_double_after_the_free_failures_up_to_the_cap() -> None:
    waits = [throttle.wait_after(n, 5).total_seconds() for n in range(4, 16)]
    assert waits[:3] == [0, 15, 30] and waits[3] == 60
    assert waits[-1] == throttle.MAX_WAIT.total_seconds()
    assert all(b >= a for a, b in itertools.pairwise(waits))
    assert throttle.wait_after(10**9, 5) == throttle.MAX_WAIT  # no overflow
    assert throttle.wait_after(100, 0).total_seconds() == 0  # web.login_rate_limit 0: off


def test_login_keys_skip_the_account_wide_key_at_a_known_address() -> None:
    names = [k.name for k in throttle.keys_for("192.0.2.1", account_id=7, free=5, known=False)]
    assert names == ["ip:192.0.2.1", "account:7@192.0.2.1", "account:7"]
    known = throttle.keys_for("192.0.2.1", account_id=7, free=5, known=True)
    assert [k.name for k in known] == ["ip:192.0.2.1", "account:7@192.0.2.1"]
    assert [k.name for k in throttle.keys_for("a", account_id=None, free=5, known=False)] == [
        "ip:a"
    ]


def test_a_session_cookie_needs_the_secret_key() -> None:
    response = Response()
    issued = auth().new_session(response, secure=False)
    cookie = session_cookie(response)
    assert auth().session(request_with({SESSION_COOKIE: cookie})) == issued
    assert auth("other" * 8).session(request_with({SESSION_COOKIE: cookie})) is None
    assert auth().session(request_with({SESSION_COOKIE: cookie + "x"})) is None


def test_csrf_check_is_exact() -> None:
    response = Response()
    session = auth().new_session(response, secure=False)
    AdminAuth.check_csrf(session, session.csrf)
    for wrong in (None, "", session.csrf[:-1], session.csrf + "a"):
        with pytest.raises(HTTPException) as info:
            AdminAuth.check_csrf(session, wrong)
        assert info.value.status_code == 403


def test_login_token_is_bound_to_the_browser_nonce() -> None:
    gate = auth()
    token, nonce = gate.login_form(request_with({}))
    assert nonce is not None
    gate.check_login_token(request_with({"nl_admin_login": nonce}), token)
    with pytest.raises(HTTPException):
        gate.check_login_token(request_with({"nl_admin_login": nonce + "x"}), token)


@given(
    st.lists(
        st.tuples(st.floats(0, 1e9), st.floats(0, 1e7)),
        min_size=1,
        max_size=60,
        unique_by=lambda p: p[0],
    )
)
def test_chart_points_stay_inside_the_picture(points: list[tuple[float, float]]) -> None:
    points.sort()
    chart = line_chart(points, x_labels=[str(i) for i in range(len(points))])
    for pair in chart.line.split():
        x, y = (float(v) for v in pair.split(","))
        assert 0 <= x <= chart.width and 0 <= y <= chart.height
    assert len(chart.x_ticks) <= 3


def test_empty_chart_says_so() -> None:
    assert line_chart([], x_labels=[]).empty


def test_report_counts_provider_outcomes(admin_services: Services) -> None:
    result = start_send(admin_services, SLUG)
    assert result.status == "sent"
    with admin_services.sessions() as session:
        rows = session.execute(
            select(Delivery.id, Subscriber.email)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .order_by(Delivery.id)
        ).all()
    args = {"send_id": str(result.send_id)}
    (d1, e1), (d2, e2), (d3, e3) = rows
    ingest_verified(
        admin_services,
        body_of(
            [
                event("delivered", e1, n=1, delivery_id=str(d1), **args),
                event("delivered", e2, n=2, delivery_id=str(d2), **args),
                event("spamreport", e2, n=3, delivery_id=str(d2), **args),
                event("bounce", e3, n=4, delivery_id=str(d3), **args),
                event("group_unsubscribe", e1, n=5, delivery_id=str(d1), **args),
            ]
        ),
    )
    report = admin_actions.send_report(admin_services, result.send_id)
    assert report.counts["accepted"] == 3
    assert report.outcomes == {"delivered": 1, "complained": 1, "bounced": 1}
    # The reader who left through the provider's link; bounces and complaints count apart.
    assert report.unsubscribed == 1
    assert not report.running and report.remaining == 0
