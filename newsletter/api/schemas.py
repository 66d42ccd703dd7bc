"""The API's request and response bodies. Requests refuse unknown fields (``extra=forbid``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

NewsletterId = str
#: A row id in a path: the database's integer range (a larger one is a 422, not a crash).
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
Status = Literal["pending", "active", "unsubscribed", "bounced", "complained"]


class Strict(BaseModel):
    """A request body: unknown fields are an error naming them."""

    model_config = ConfigDict(extra="forbid")


class Consent(Strict):
    """Where and how the person agreed: required for ``"confirmed": true``."""

    source: str = Field(min_length=1, max_length=300, description="e.g. 'paper form at event X'")
    ip: str = Field("", max_length=64)
    wording_version: str = Field("", max_length=32)


class SubscriberCreate(Strict):
    """A new subscriber: double opt-in unless ``confirmed`` with a ``consent``."""

    email: str = Field(min_length=3, max_length=320)
    name: str = Field("", max_length=200)
    newsletters: list[NewsletterId] | None = Field(
        None, min_length=1, max_length=50, description="default: the default newsletter"
    )
    confirmed: bool = False
    consent: Consent | None = None
    timezone: str = Field("", max_length=64)
    locale: Literal["", "ko", "en"] = ""
    ad_consent: bool = Field(
        False,
        description="also agrees to these newsletters' advertising (docs/advertising.md); "
        "with double opt-in it takes effect on confirmation",
    )


class SubscriberUpdate(Strict):
    """Fields to change; those left out stay as they are."""

    name: str | None = Field(None, max_length=200)
    newsletters: list[NewsletterId] | None = Field(None, max_length=50)
    timezone: str | None = Field(None, max_length=64)
    ad_consent: dict[NewsletterId, bool] | None = Field(
        None,
        max_length=50,
        description="newsletter id → advertising consent given (true) or withdrawn (false)",
    )


class UnsubscribeRequest(Strict):
    """Unsubscribe from one newsletter, or from all when ``newsletter`` is left out."""

    newsletter: NewsletterId | None = Field(None, max_length=64)


class SubscriptionOut(BaseModel):
    """One person's standing with one newsletter."""

    newsletter: str
    status: str
    created_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None
    ad_consent: bool = False  # an active advertising consent for this newsletter


class SubscriberOut(BaseModel):
    """A subscriber with their subscriptions."""

    id: int
    email: str
    name: str
    status: str
    locale: str
    timezone: str
    created_at: datetime
    subscriptions: list[SubscriptionOut]


class SubscriberPage(BaseModel):
    """One page of subscribers; ``next_cursor`` is null on the last page."""

    data: list[SubscriberOut]
    next_cursor: str | None


class SubscribeOut(BaseModel):
    """The created (or found) subscriber and what happened per newsletter."""

    subscriber: SubscriberOut
    pending: list[str]
    active: list[str]
    unchanged: list[str]
    confirmation_sent: bool


class NewsletterOut(BaseModel):
    """A newsletter and its subscriptions by status."""

    id: str
    name: str
    description: str
    default: bool
    counts: dict[str, int]


class IssueOut(BaseModel):
    """An issue as last synced from its file."""

    slug: str
    newsletter: str
    title: str
    subject: str
    status: str
    publish_at: datetime
    scheduled_at_override: datetime | None


class ScheduleRequest(Strict):
    """When to send; without ``at`` the file's date."""

    at: datetime | None = Field(None, description="ISO-8601; without offset: site timezone")


class ScheduleOut(BaseModel):
    """The issue's schedule after the change."""

    slug: str
    status: str
    send_at: datetime | None
    send_at_local: str
    overridden: bool
    note: str


class TestSendRequest(Strict):
    """Addresses to send a test copy to (the ledger is not touched)."""

    to: list[str] = Field(min_length=1, max_length=10)


class TestSendOut(BaseModel):
    """Who got the test copy."""

    sent_to: list[str]


class SendOut(BaseModel):
    """A send with its deliveries counted by status."""

    id: int
    slug: str
    newsletter: str
    subject: str
    backend: str
    status: str
    total: int
    counts: dict[str, int]
    rate_per_second: float
    error: str
    created_at: str
    started_at: str
    finished_at: str


class LinkFiguresOut(BaseModel):
    """One tracked link: people's clicks and clickers, machine hits apart."""

    index: int
    url: str
    clicks: int
    clickers: int
    machine_hits: int


class ProviderFiguresOut(BaseModel):
    """One mailbox provider: delivered, people who clicked, the rate."""

    provider: str
    name: str
    delivered: int
    clickers: int
    click_rate: float


class VariantOut(BaseModel):
    """One subject of an A/B send (or its rest): readers, people who clicked and opened."""

    variant: int
    subject: str
    recipients: int
    delivered: int
    clickers: int
    openers: int
    click_rate: float


class AbTestOut(BaseModel):
    """An A/B send's test (docs/delivery.md, "A/B subjects"): each subject, the verdict."""

    subjects: list[str]
    sample: str
    wait: str
    sample_size: int
    decide_at: str
    winner: int | None
    winner_subject: str
    reason: str
    reason_text: str
    decided_at: str
    variants: list[VariantOut]
    rest: VariantOut | None
    at_decision: list[VariantOut]


class EngagementOut(BaseModel):
    """A send's engagement (docs/tracking.md): people counted, machines apart."""

    send_id: int
    slug: str
    newsletter_id: str
    subject: str
    tracking: str
    started_at: str
    delivered: int
    clickers: int
    click_rate: float
    openers: int
    bounces: int
    complaints: int
    unsubscribes: int
    machine_hits: int
    machine_reasons: dict[str, int]
    links: list[LinkFiguresOut]
    providers: list[ProviderFiguresOut]
    first_hours: list[int]
    #: Only for a send with ``subjects:``.
    ab_test: AbTestOut | None = None


class StatsOut(BaseModel):
    """Subscriptions by status per newsletter, and sends by status."""

    newsletters: dict[str, dict[str, int]]
    sends: dict[str, int]
