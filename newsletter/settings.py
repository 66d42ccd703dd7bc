"""Typed settings: ``config.yaml``, overridden by ``NEWSLETTER_*`` variables, secrets from the env.

Loaded once by :func:`load_settings` and passed in; nothing here runs at import time.
Every key can be overridden by an environment variable named after its path:
``NEWSLETTER_DELIVERY__BACKEND=sendgrid`` sets ``delivery.backend``. Values that look like
JSON (``[...]``, ``{...}``) are parsed as JSON, so lists can be overridden too.

Secrets never come from the file: a secret key found in ``config.yaml`` is an error.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from newsletter.errors import ConfigError
from newsletter.header_values import unsafe_in_header
from newsletter.mailbox.imap_url import parse_imap_url
from newsletter.timing.quiet import QuietHours, parse_window

ENV_PREFIX = "NEWSLETTER_"
CONFIG_ENV = "NEWSLETTER_CONFIG"

#: Secrets and the environment variables they come from. Never read from ``config.yaml``.
SECRET_VARIABLES = {
    "secret_key": "NEWSLETTER_SECRET_KEY",
    "admin_password": "NEWSLETTER_ADMIN_PASSWORD",
    "smtp_password": "NEWSLETTER_SMTP_PASSWORD",
    "sendgrid_api_key": "SENDGRID_API_KEY",
    "sendgrid_webhook_public_key": "SENDGRID_WEBHOOK_PUBLIC_KEY",
    "dkim_private_key": "NEWSLETTER_DKIM_PRIVATE_KEY",
    "imap_password": "NEWSLETTER_IMAP_PASSWORD",
}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: Any) -> Any:
    """Accept ``90``, ``"90s"``, ``"30m"``, ``"6h"``, ``"7d"`` as well as what pydantic takes."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _one_line(value: str) -> str:
    found = unsafe_in_header(value)
    if found is not None:
        raise ValueError(f"control character {found} (a line break?): it would reach a header")
    return value


#: Text that reaches an email header (From, Reply-To, List-Id, List-Unsubscribe): one line.
OneLine = Annotated[str, AfterValidator(_one_line)]
#: The UTM parameters a newsletter may add to its tracked links.
UtmKey = Literal["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSettings(_Section):
    """What readers see of the site: its name, public URL, language and timezone."""

    name: OneLine = "Newsletter"
    url: OneLine = "http://localhost:8000"
    language: Literal["ko", "en"] = "ko"
    timezone: str = "Asia/Seoul"
    postal_address: str = ""
    #: The sender's telephone number, shown in advertising issues' footer (docs/advertising.md).
    phone: OneLine = ""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {value!r} (use an IANA name such as Asia/Seoul)"
            ) from None
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @property
    def tz(self) -> ZoneInfo:
        """The site's timezone as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone)


class SenderSettings(_Section):
    """The From and Reply-To of every email."""

    from_email: OneLine = "newsletter@example.com"
    from_name: OneLine = "Newsletter"
    reply_to: OneLine = ""


class DatabaseSettings(_Section):
    """Where the data lives: SQLite by default, PostgreSQL at scale."""

    url: str = "sqlite:///newsletter.db"
    echo: bool = False


class SmtpSettings(_Section):
    """The SMTP backend's server. The password comes from ``NEWSLETTER_SMTP_PASSWORD``."""

    host: str = "localhost"
    port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    tls: bool = False
    username: str = ""
    connections: int = Field(4, ge=1, le=64)
    timeout: Duration = timedelta(seconds=30)


class SendgridSettings(_Section):
    """The SendGrid backend. The API key comes from ``SENDGRID_API_KEY``."""

    host: str = "https://api.sendgrid.com"
    timeout: Duration = timedelta(seconds=30)


class RetrySettings(_Section):
    """Capped exponential backoff with jitter for transient failures."""

    max_attempts: int = Field(5, ge=1)
    base_delay: Duration = timedelta(seconds=1)
    max_delay: Duration = timedelta(seconds=60)


class DkimSettings(_Section):
    """DKIM signing by the SMTP and outbox backends; off while ``selector`` is empty.

    ``domain`` defaults to the domain of ``sender.email``; the key is the PEM file
    ``key_file`` or ``NEWSLETTER_DKIM_PRIVATE_KEY`` (which wins).
    """

    selector: str = Field("", pattern=r"^([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)?$")
    domain: str = ""
    key_file: Path | None = None


def _imap_url(value: str) -> str:
    if value:
        parse_imap_url(value)
    return value


class MailboxSettings(_Section):
    """The bounce mailbox ``newsletter mailbox process`` (and ``serve``) reads."""

    #: A Maildir the bounce domain's mail is delivered into; unset: no mailbox.
    maildir: Path | None = None
    #: Or an IMAP mailbox, ``imaps://USER@HOST[:PORT]/FOLDER`` (``newsletter.mailbox.imap_url``);
    #: the password comes from ``NEWSLETTER_IMAP_PASSWORD``.
    imap: Annotated[str, AfterValidator(_imap_url)] = ""
    #: The IMAP folders messages are moved to (created when missing); a Maildir uses
    #: ``.processed`` and ``.attention``.
    processed_folder: str = Field("Processed", min_length=1, pattern=r"^[^\x00-\x1f\x7f*%]+$")
    attention_folder: str = Field("Attention", min_length=1, pattern=r"^[^\x00-\x1f\x7f*%]+$")
    #: How often ``serve`` reads it.
    interval: Duration = timedelta(minutes=1)
    #: A larger message is not parsed: it goes to the ``.attention`` folder.
    max_message_bytes: int = Field(10_000_000, ge=10_000)

    @model_validator(mode="after")
    def _one_mailbox(self) -> MailboxSettings:
        if self.maildir is not None and self.imap:
            raise ValueError("set maildir or imap, not both")
        if self.processed_folder == self.attention_folder:
            raise ValueError("processed_folder and attention_folder must differ")
        return self

    @property
    def configured(self) -> bool:
        """Whether there is a mailbox to read (a Maildir or an IMAP URL)."""
        return self.maildir is not None or bool(self.imap)


class DeliverySettings(_Section):
    """How sends go out: the backend, batch size, rate limit and error policy."""

    backend: Literal["outbox", "smtp", "sendgrid"] = "outbox"
    outbox_dir: Path = Path("outbox")
    batch_size: int = Field(1000, ge=1, le=1000)
    rate_limit_per_second: float = Field(0, ge=0)
    pause_after_errors: int = Field(100, ge=0)
    smtp: SmtpSettings = SmtpSettings()
    sendgrid: SendgridSettings = SendgridSettings()
    retry: RetrySettings = RetrySettings()
    dkim: DkimSettings = DkimSettings()
    #: VERP (docs/delivery.md): with a domain, each email's envelope sender is
    #: ``bounces+TOKEN@`` it and its List-Unsubscribe mailto ``unsubscribe+TOKEN@`` it.
    bounce_domain: str = Field("", pattern=r"^([A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+)?$")
    mailbox: MailboxSettings = MailboxSettings()

    @model_validator(mode="after")
    def _mailbox_needs_verp(self) -> DeliverySettings:
        if self.mailbox.configured and not self.bounce_domain:
            which = "maildir" if self.mailbox.maildir is not None else "imap"
            raise ValueError(
                f"delivery.mailbox.{which} is set but delivery.bounce_domain is not: "
                "the mailbox can only act on mail naming a VERP address"
            )
        return self


class SchedulerSettings(_Section):
    """The in-process scheduler of ``newsletter serve``."""

    max_lateness: Duration = timedelta(hours=6)
    sync_interval: Duration = timedelta(seconds=30)
    #: How often ``serve`` runs the sunset (docs/automations.md, "Sunset").
    sunset_interval: Duration = timedelta(hours=1)
    #: How often ``serve`` sends the due advertising notices (docs/advertising.md).
    ad_notice_interval: Duration = timedelta(minutes=5)

    @field_validator("sunset_interval", "ad_notice_interval")
    @classmethod
    def _positive_interval(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration, e.g. 1h")
        return value


class SequenceSettings(_Section):
    """Welcome sequences (docs/automations.md): their files' folder, how often serve walks."""

    dir: Path = Path("sequences")
    #: How often ``serve`` sends the steps that fell due; 0 turns the walk off.
    interval: Duration = timedelta(seconds=15)


class FeedsSettings(_Section):
    """Issues made from RSS/Atom feeds (``newsletter feeds``; docs/automations.md, "Feeds")."""

    #: How often ``serve`` polls each feed (a failing one backs off from there).
    poll_interval: Duration = timedelta(minutes=15)
    #: The longest a failing feed waits before its next try (the back-off's cap).
    backoff_max: Duration = timedelta(hours=24)
    #: The most one fetch may take, connection to last byte.
    timeout: Duration = timedelta(seconds=20)
    #: A larger response is refused unread past this many bytes.
    max_bytes: int = Field(5_000_000, ge=10_000)
    max_redirects: int = Field(5, ge=0, le=20)
    #: In ``schedule`` mode, an entry whose date has passed is sent this long after the
    #: poll that found it (time for an editor to look, or cancel).
    schedule_delay: Duration = timedelta(minutes=30)


class WebSettings(_Section):
    """The web app: tracking, rate limits, sessions and the proxies it trusts."""

    tracking: bool = False
    subscribe_rate_limit_per_ip: int = Field(10, ge=0)
    subscribe_rate_limit_per_address: int = Field(3, ge=0)
    login_rate_limit: int = Field(5, ge=0)
    #: The email of the owner NEWSLETTER_ADMIN_PASSWORD creates when no account exists.
    admin_email: OneLine = "admin@localhost"
    # Peers whose X-Forwarded-For/-Proto are believed (IPs or CIDRs); empty: nobody's.
    trusted_proxies: list[str] = Field(default_factory=list)
    #: The largest webhook post read (SendGrid's are well under 1 MB); larger is a 413.
    webhook_max_bytes: int = Field(5_000_000, ge=1_000)
    #: How far a webhook's signed timestamp may be from now (either way) before a 403.
    webhook_max_age: Duration = timedelta(minutes=10)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/24)"
                ) from None
        return [item.strip() for item in value]

    @property
    def trusted_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """``trusted_proxies`` as networks (a bare address is a /32 or /128)."""
        return [ipaddress.ip_network(item, strict=False) for item in self.trusted_proxies]


class TrackingSettings(_Section):
    """Engagement tracking's mailbox-provider lookup (docs/tracking.md, "Mailbox providers")."""

    #: The DNS servers asked for a domain's MX ("IP" or "IP:port", "[IPv6]:port");
    #: empty: the system resolver (/etc/resolv.conf).
    dns_servers: list[str] = Field(default_factory=list)
    #: The most one MX lookup may take, retries included; then the domain counts as other.
    dns_timeout: float = Field(2.0, gt=0, le=30)

    @field_validator("dns_servers")
    @classmethod
    def _servers(cls, value: list[str]) -> list[str]:
        for item in value:
            dns_server(item)
        return [item.strip() for item in value]


def dns_server(item: str) -> tuple[str, int]:
    """``"IP"``, ``"IP:port"`` or ``"[IPv6]:port"`` as (address, port); ValueError if not one."""
    text = item.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            host = ""  # "[::1" or "[::1]53": refused below
        port = rest[1:] if rest else "53"
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        address = str(ipaddress.ip_address(host))
        number = int(port)
    except ValueError:
        number = -1
        address = ""
    if not address or not 0 < number < 65536:
        raise ValueError(
            f"{item!r} is not a DNS server address (e.g. 192.0.2.53, 127.0.0.1:5353, [::1]:53)"
        )
    return address, number


class ApiSettings(_Section):
    """The REST API (``/api/v1``) and its outgoing webhooks."""

    rate_limit_per_minute: int = Field(600, ge=0)  # per key; 0 = unlimited
    max_body_bytes: int = Field(65536, ge=1024)
    idempotency_ttl: Duration = timedelta(hours=24)
    webhook_timeout: Duration = timedelta(seconds=10)
    # A webhook delivery is retried at 5 s, 5 min, 30 min, 2 h, 5 h, then every 10 h, and
    # given up when the next attempt would come later than this after the event (≥ 24 h).
    webhook_retry_for: Duration = timedelta(hours=28)
    # An endpoint is disabled when a delivery is given up after this many failed attempts
    # in a row (no success in between), or at once when it answers 410 Gone.
    webhook_disable_after: int = Field(5, ge=1)


class SunsetSettings(_Section):
    """Re-engagement (docs/automations.md, "Sunset"): readers with no human click in the
    newsletter's last ``after_issues`` tracked issues are asked "still want this?" once and
    unsubscribed (reason ``inactive``) when they do not answer within ``grace``."""

    after_issues: int = Field(ge=1, le=1000)
    grace: Duration

    @field_validator("grace")
    @classmethod
    def _grace_positive(cls, value: timedelta) -> timedelta:
        if value < timedelta(hours=1) or value > timedelta(days=365):
            raise ValueError("must be between 1h and 365d, e.g. 14d")
        return value


class NewsletterSettings(_Section):
    """One newsletter that readers can subscribe to.

    The sender keys (``from_name``, ``from_email``, ``reply_to``) and ``postal_address``
    override ``sender`` and ``site`` for this newsletter's emails when set; ``logo`` is the
    https URL of the masthead image, ``footer`` a line of text above the footer's links.
    See :meth:`Settings.sender_for`.
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: OneLine
    description: str = ""
    default: bool = False
    language: Literal["ko", "en"] | None = None
    from_name: str = ""
    from_email: str = ""
    reply_to: str = ""
    postal_address: str = ""
    phone: str = ""
    logo: str = ""
    logo_alt: str = ""
    footer: str = ""
    #: Click tracking (docs/tracking.md): ``off`` (the default: links go out untouched),
    #: ``aggregate`` (counted per issue, no subscriber id with a click) or ``per_reader``.
    tracking: Literal["off", "aggregate", "per_reader"] = "off"
    #: An open pixel in tracked emails (only with ``tracking`` on).
    opens: bool = False
    #: UTM parameters added to tracked links (``utm_source`` ...); ``{slug}`` is the issue.
    utm: dict[UtmKey, str] = Field(default_factory=dict)
    #: Re-engagement of inactive readers (``{after_issues: 10, grace: 14d}``); off when unset.
    sunset: SunsetSettings | None = None
    #: ``"21:00-08:00"`` (site timezone): an issue due inside it goes at its end
    #: (docs/scheduler.md, "Quiet hours"); "" for none.
    quiet_hours: str = ""

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        if value.strip():
            parse_window(value)
        return value.strip()

    @property
    def quiet(self) -> QuietHours | None:
        """The quiet-hours window, if any."""
        return parse_window(self.quiet_hours) if self.quiet_hours else None

    @field_validator("tracking", mode="before")
    @classmethod
    def _tracking_off(cls, value: object) -> object:
        # YAML 1.1 reads a bare ``off`` as false: that is the word the docs use.
        return "off" if value is False else value

    @field_validator("sunset")
    @classmethod
    def _sunset_needs_clicks(cls, value: SunsetSettings | None, info: ValidationInfo) -> object:
        # Only per-reader tracking ties a click to a reader: without it nobody can be judged.
        if value is not None and info.data.get("tracking") != "per_reader":
            raise ValueError("needs tracking: per_reader (clicks tied to readers)")
        return value

    @field_validator("logo")
    @classmethod
    def _logo_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL of an image")
        return value


@dataclass(frozen=True)
class Sender:
    """Who one newsletter's emails come from, with the fallbacks already applied."""

    from_name: str
    from_email: str
    reply_to: str
    postal_address: str
    language: Literal["ko", "en"]
    phone: str = ""


class Secrets(_Section):
    """Secrets, read only from the environment (see ``SECRET_VARIABLES``)."""

    secret_key: str | None = None
    admin_password: str | None = None
    smtp_password: str | None = None
    sendgrid_api_key: str | None = None
    sendgrid_webhook_public_key: str | None = None
    dkim_private_key: str | None = None
    imap_password: str | None = None


class Settings(_Section):
    """The whole configuration; ``base_dir`` is where relative paths are resolved."""

    base_dir: Path = Path(".")
    site: SiteSettings = SiteSettings()
    sender: SenderSettings = SenderSettings()
    database: DatabaseSettings = DatabaseSettings()
    delivery: DeliverySettings = DeliverySettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    web: WebSettings = WebSettings()
    api: ApiSettings = ApiSettings()
    tracking: TrackingSettings = TrackingSettings()
    feeds: FeedsSettings = FeedsSettings()
    issues_dir: Path = Path("issues")
    sequences: SequenceSettings = SequenceSettings()
    templates_dir: Path = Path("templates")
    newsletters: list[NewsletterSettings] = Field(
        default_factory=lambda: [NewsletterSettings(id="weekly", name="Weekly", default=True)],
        min_length=1,
    )
    secrets: Secrets = Secrets()

    @model_validator(mode="after")
    def _one_default_newsletter(self) -> Settings:
        ids = [n.id for n in self.newsletters]
        if len(set(ids)) != len(ids):
            raise ValueError(f"newsletter ids must be unique, got {ids}")
        if sum(n.default for n in self.newsletters) > 1:
            raise ValueError("at most one newsletter can be marked default: true")
        return self

    @property
    def default_newsletter(self) -> NewsletterSettings:
        """The newsletter marked ``default: true``, else the first one."""
        return next((n for n in self.newsletters if n.default), self.newsletters[0])

    def newsletter(self, newsletter_id: str) -> NewsletterSettings:
        """The newsletter with this id, or a ``ConfigError`` naming the known ones."""
        for item in self.newsletters:
            if item.id == newsletter_id:
                return item
        known = ", ".join(n.id for n in self.newsletters)
        raise ConfigError(f"unknown newsletter {newsletter_id!r} (configured: {known})")

    def sender_for(self, newsletter_id: str | None) -> Sender:
        """The sender of a newsletter's emails: its own keys, else ``sender`` and ``site``.

        ``None`` is the site itself (emails about several newsletters at once).
        """
        site = Sender(
            from_name=self.sender.from_name,
            from_email=self.sender.from_email,
            reply_to=self.sender.reply_to,
            postal_address=self.site.postal_address,
            language=self.site.language,
            phone=self.site.phone,
        )
        if newsletter_id is None:
            return site
        own = self.newsletter(newsletter_id)
        return Sender(
            from_name=own.from_name or site.from_name,
            from_email=own.from_email or site.from_email,
            reply_to=own.reply_to or site.reply_to,
            postal_address=own.postal_address or site.postal_address,
            language=own.language or site.language,
            phone=own.phone or site.phone,
        )

    def path(self, value: Path) -> Path:
        """Resolve a configured path against the project directory."""
        return value if value.is_absolute() else self.base_dir / value


def load_settings(
    path: Path | str | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Load ``config.yaml`` (or ``path``/``$NEWSLETTER_CONFIG``), apply env overrides, validate.

    A missing file is fine when no path was asked for (defaults apply); a bad value raises
    ``ConfigError`` naming its key, e.g. ``config.yaml: delivery.batch_size: ...``.
    """
    env = os.environ if environ is None else environ
    explicit = path or env.get(CONFIG_ENV)
    config_path = Path(explicit) if explicit else Path("config.yaml")
    data = _read_yaml(config_path, required=bool(explicit))
    source = config_path.name
    for key in (*SECRET_VARIABLES, "secrets"):
        if key in data:
            raise ConfigError(f"{source}: {key}: secrets are read only from the environment")
    _apply_env_overrides(data, env)
    data["secrets"] = {key: env.get(var) or None for key, var in SECRET_VARIABLES.items()}
    data.setdefault("base_dir", str(config_path.resolve().parent))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ConfigError(f"{source}: {key}: {first['msg']}") from None


def _read_yaml(path: Path, *, required: bool) -> dict[str, Any]:
    if not path.exists():
        if required:
            raise ConfigError(f"{path}: config file not found")
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    return data


def _apply_env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        if name in SECRET_VARIABLES.values():
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        target = data
        for part in parts[:-1]:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name}: {'.'.join(parts)} does not name a setting")
            target = child
        target[parts[-1]] = _env_value(raw)


def _env_value(raw: str) -> Any:
    if raw[:1] in "[{":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw
