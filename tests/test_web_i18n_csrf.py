"""Properties of the Accept-Language parser, the language choice and the CSRF tokens."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from newsletter.web.csrf import CsrfKey
from newsletter.web.i18n import LANGUAGES, choose_language, parse_accept_language

TAGS = st.sampled_from(["ko", "ko-KR", "en", "en-US", "fr", "de-CH", "ja", "*", "zh-Hant-TW"])
WEIGHTS = st.sampled_from(["", ";q=1", ";q=0.9", ";q=0.5", ";q=0.1", ";q=0", ";q=0.001"])


@given(st.text(max_size=300))
def test_any_header_parses_without_error(header: str) -> None:
    ranges = parse_accept_language(header)
    assert all(0 < weight <= 1 for _tag, weight in ranges)
    weights = [weight for _tag, weight in ranges]
    assert weights == sorted(weights, reverse=True)


@given(st.text(max_size=300), st.sampled_from(LANGUAGES), st.none() | st.text(max_size=5))
def test_choice_is_always_supported(header: str, default: str, explicit: str | None) -> None:
    assert choose_language(explicit=explicit, accept_language=header, default=default) in (
        LANGUAGES
    )


@given(st.lists(st.tuples(TAGS, WEIGHTS), min_size=1, max_size=6))
def test_highest_weighted_supported_language_wins(ranges: list[tuple[str, str]]) -> None:
    header = ", ".join(tag + weight for tag, weight in ranges)
    chosen = choose_language(explicit=None, accept_language=header, default="ko")
    weights = {"": 1.0, ";q=1": 1.0}
    best = sorted(
        (
            (-weights.get(weight, float(weight[3:] or 0)), position, tag.split("-")[0])
            for position, (tag, weight) in enumerate(ranges)
            if tag.split("-")[0] in LANGUAGES and weights.get(weight, float(weight[3:] or 0)) > 0
        ),
    )
    assert chosen == (best[0][2] if best else "ko")


def test_explicit_choice_beats_the_browser() -> None:
    assert choose_language(explicit="en", accept_language="ko", default="ko") == "en"
    assert choose_language(explicit="xx", accept_language="en;q=0.2", default="ko") == "en"
    assert choose_language(explicit=None, accept_language="ko;q=0, en", default="ko") == "en"


@given(st.text(min_size=1, max_size=80), st.text(min_size=20, max_size=64))
def test_csrf_token_binds_page_and_session(page_token: str, session: str) -> None:
    key = CsrfKey("secret")
    token = key.token(page_token, session)
    assert key.check(page_token, session, token)
    assert not key.check(page_token + "x", session, token)
    assert not key.check(page_token, session + "x", token)
    assert not key.check(page_token, None, token)
    assert not CsrfKey("another secret").check(page_token, session, token)
