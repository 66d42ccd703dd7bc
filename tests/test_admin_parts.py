"""The dashboard's parts on their own: login limits, sessions, charts, the report's figures."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import HTTPException
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from newsletter.delivery.engine import start_send
from newsletter.delivery.models import Delivery
from newsletter.events.service import ingest_verified
from newsletter.services import Services
from newsletter.web.admin import actions as admin_actions
from newsletter.web.admin.auth import LOGIN_WINDOW, SESSION_COOKIE, AdminAuth
from newsletter.web.admin.charts import line_chart
from subscribers.models import Subscriber
from tests.admin_support import SLUG, admin_services
from tests.webhook_support import body_of, event

__all__ = ["admin_services"]


def auth(password: str = "pw", *, limit: int = 3) -> AdminAuth:
    return AdminAuth(password=password, secret_key="k" * 32, login_limit=limit)


def request_with(cookies: dict[str, str]) -> Request:
    header = "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()
    scope: dict[str, Any] = {"type": "http", "headers": [(b"cookie", header)]}
    return Request(scope)


def session_cookie(response: Response) -> str:
    for name, value in response.raw_headers:
        if name == b"set-cookie" and value.startswith(SESSION_COOKIE.encode() + b"="):
            return value.split(b";")[0].split(b"=", 1)[1].decode()
    raise AssertionError("no session cookie")


def test_login_limit_is_per_client_and_slides() -> None:
    limiter = auth(limit=2)
    assert limiter.allow_login_attempt("a", now=0) and limiter.allow_login_attempt("a", now=1)
    assert not limiter.allow_login_attempt("a", now=2)
    assert limiter.allow_login_attempt("b", now=2)
    assert limiter.allow_login_attempt("a", now=LOGIN_WINDOW + 0.5)


def test_a_session_survives_only_its_password() -> None:
    response = Response()
    issued = auth("old").new_session(response, secure=False)
    cookie = session_cookie(response)
    assert auth("old").session(request_with({SESSION_COOKIE: cookie})) == issued
    assert auth("new").session(request_with({SESSION_COOKIE: cookie})) is None
    assert auth("old").session(request_with({SESSION_COOKIE: cookie + "x"})) is None


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
