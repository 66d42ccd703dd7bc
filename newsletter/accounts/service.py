"""What the CLI and the dashboard do with accounts; each function owns its transaction.

Every change is an ``admin_action`` in the event log naming who made it (``actor``: the
account's email in the dashboard, ``user@host`` from the CLI).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from newsletter import db
from newsletter.accounts import links, passwords, throttle, totp
from newsletter.accounts import store as account_store
from newsletter.accounts.models import AdminAccount, Role
from newsletter.errors import AccountError
from newsletter.services import Services
from subscribers.addresses import parse_address
from subscribers.db import utcnow
from subscribers.errors import InvalidAddress
from subscribers.tokens import signing_keys

log = logging.getLogger("newsletter.accounts")

BOOTSTRAP_EMAIL = "admin@localhost"
REQUIRE_TOTP = "require_totp"


@dataclass(frozen=True)
class Account:
    """An account as the dashboard and the CLI show it (never its hashes or secret)."""

    id: int
    email: str
    role: Role
    has_password: bool
    has_totp: bool
    created_at: datetime

    @classmethod
    def of(cls, row: AdminAccount) -> Account:
        """The public view of a row."""
        return cls(
            id=row.id,
            email=row.email,
            role=Role(row.role),
            has_password=row.password_hash is not None,
            has_totp=row.totp_secret is not None,
            created_at=row.created_at,
        )

    @property
    def actor(self) -> str:
        """How the audit log names this account."""
        return self.email[:64]  # the audit columns hold 64 characters


def parse_role(text: str) -> Role:
    """``owner``, ``editor`` or ``viewer``; :class:`AccountError` otherwise."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise AccountError(f"role must be owner, editor or viewer, not {text!r}") from None


def normalize_email(text: str) -> str:
    """A valid address, normalized (as subscribers' addresses are)."""
    try:
        return parse_address(text.strip()).normalized
    except InvalidAddress as exc:
        raise AccountError(str(exc)) from None


def _lookup_email(text: str) -> str:
    # The login form: the same normalization when valid, else a plain lower-case lookup.
    try:
        return parse_address(text.strip()).normalized
    except InvalidAddress:
        return text.strip().lower()[:320]


def _signer(services: Services) -> links.LinkSigner:
    settings = services.settings
    keys = signing_keys(settings.secrets.secret_key, dev_key_path=settings.base_dir / ".secret_key")
    return links.LinkSigner(keys[0])


def password_link(services: Services, account: AdminAccount, *, max_age: int) -> str:
    """The full set-password URL for ``account`` (on ``site.url``)."""
    token = _signer(services).dumps(account, max_age=max_age)
    return f"{services.settings.site.url.rstrip('/')}{links.PATH}?token={token}"


def _require(session: Session, email: str) -> AdminAccount:
    account = account_store.account_by_email(session, _lookup_email(email))
    if account is None:
        raise AccountError(f"no account {email!r}")
    return account


def _check_not_last_owner(session: Session, account: AdminAccount) -> None:
    if account.role != Role.OWNER:
        return
    owners = [a for a in account_store.list_accounts(session) if a.role == Role.OWNER]
    if len(owners) <= 1:
        raise AccountError(f"{account.email} is the last owner: make another owner first")


def add_user(services: Services, email: str, role: Role, *, actor: str) -> tuple[Account, str]:
    """Create an account without a password; returns it and its set-password link."""
    address = normalize_email(email)
    with db.transaction(services.sessions) as session:
        if account_store.account_by_email(session, address) is not None:
            raise AccountError(f"there is already an account {address}")
        row = account_store.add_account(session, email=address, role=role, now=utcnow())
        account_store.record_action(
            session, "user_added", actor=actor, detail={"email": address, "role": str(role)}
        )
        link = password_link(services, row, max_age=links.CLI_LINK_AGE)
        return Account.of(row), link


def list_users(services: Services) -> list[Account]:
    """Every account, by email."""
    with services.sessions() as session:
        return [Account.of(row) for row in account_store.list_accounts(session)]


def remove_user(services: Services, email: str, *, actor: str) -> None:
    """Delete an account; its open sessions stop working at their next request."""
    with db.transaction(services.sessions) as session:
        account = _require(session, email)
        _check_not_last_owner(session, account)
        account_store.end_sessions(session, account.id, now=utcnow())
        account_store.delete_account(session, account.id)
        account_store.record_action(
            session, "user_removed", actor=actor, detail={"email": account.email}
        )


def set_role(services: Services, email: str, role: Role, *, actor: str) -> Account:
    """Change an account's role; its sessions end (it logs in again with the new role)."""
    with db.transaction(services.sessions) as session:
        account = _require(session, email)
        if role != Role.OWNER:
            _check_not_last_owner(session, account)
        previous = account.role
        account.role = role
        account_store.end_sessions(session, account.id, now=utcnow())
        account_store.record_action(
            session,
            "user_role_set",
            actor=actor,
            detail={"email": account.email, "from": previous, "to": str(role)},
        )
        return Account.of(account)


def reset_user(services: Services, email: str, *, actor: str) -> str:
    """Lost password or authenticator: clear the password and second factor, end every
    session, and return a new set-password link."""
    with db.transaction(services.sessions) as session:
        account = _require(session, email)
        account.password_hash = None
        account.totp_secret = None
        account.totp_last_step = None
        account_store.replace_recovery_codes(session, account.id, [])
        account_store.end_sessions(session, account.id, now=utcnow())
        account_store.record_action(
            session, "user_reset", actor=actor, detail={"email": account.email}
        )
        session.flush()
        return password_link(services, account, max_age=links.CLI_LINK_AGE)


def link_account(services: Services, token: str) -> Account:
    """The account a set-password link is for; :class:`AccountError` if used or expired."""
    data = _signer(services).loads(token)
    with services.sessions() as session:
        account = account_store.account_by_id(session, data.account_id)
        if account is None or links.fingerprint(account) != data.fingerprint:
            raise AccountError("this link has been used already or is no longer valid")
        return Account.of(account)


def use_password_link(services: Services, token: str, password: str) -> Account:
    """Set the password through a link (once); every session of the account ends."""
    data = _signer(services).loads(token)
    new_hash = passwords.hash_password(password)
    with db.transaction(services.sessions) as session:
        account = account_store.account_by_id(session, data.account_id)
        if account is None or links.fingerprint(account) != data.fingerprint:
            raise AccountError("this link has been used already or is no longer valid")
        _set_password(session, account, new_hash)
        account_store.record_action(session, "password_set", actor=account.email)
        return Account.of(account)


def _set_password(session: Session, account: AdminAccount, new_hash: str) -> None:
    now = utcnow()
    account.password_hash = new_hash
    account.password_changed_at = now
    account_store.end_sessions(session, account.id, now=now)


def change_password(services: Services, account_id: int, current: str, new: str) -> None:
    """Change one's own password (the current one is asked); every session ends."""
    new_hash = passwords.hash_password(new)
    with db.transaction(services.sessions) as session:
        account = account_store.account_by_id(session, account_id)
        if account is None or not passwords.verify_password(account.password_hash, current):
            raise AccountError("the current password is not right")
        _set_password(session, account, new_hash)
        account_store.record_action(session, "password_changed", actor=account.email)


def reset_link_for(services: Services, email: str) -> tuple[str, str] | None:
    """(address, a one-hour link) for "forgot my password", or None for an unknown email."""
    with services.sessions() as session:
        account = account_store.account_by_email(session, _lookup_email(email))
        if account is None:
            return None
        return account.email, password_link(services, account, max_age=links.EMAIL_LINK_AGE)


def bootstrap_owner(services: Services, email: str | None = None) -> str | None:
    """Where ``NEWSLETTER_ADMIN_PASSWORD`` is set and no account exists, create the first
    owner with that password; returns its email (None when nothing was done)."""
    password = services.settings.secrets.admin_password
    if not password:
        return None
    address = (email or BOOTSTRAP_EMAIL).strip().lower()
    with db.transaction(services.sessions) as session:
        if account_store.count_accounts(session):
            return None
        row = account_store.add_account(session, email=address, role=Role.OWNER, now=utcnow())
        row.password_hash = passwords.hash_password_unchecked(password)
        row.password_changed_at = utcnow()
        account_store.record_action(
            session,
            "user_added",
            actor="NEWSLETTER_ADMIN_PASSWORD",
            detail={"email": address, "role": "owner", "bootstrap": True},
        )
    log.warning(
        "created the first owner account %s with NEWSLETTER_ADMIN_PASSWORD: log in with that "
        "email and password, then add accounts (newsletter users add) and unset the variable",
        address,
    )
    return address


def any_accounts(services: Services) -> bool:
    """Whether the dashboard has any account (else it is off)."""
    with services.sessions() as session:
        return account_store.count_accounts(session) > 0


# --- login -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    """A login attempt's outcome: the account, or why not (and how long to wait)."""

    account: Account | None
    error: str = ""  # "wrong" (email, password or code) or "too_many"
    wait_seconds: int = 0


def login(
    services: Services,
    *,
    email: str,
    password: str,
    code: str,
    ip: str,
    free: int,
    now: datetime | None = None,
) -> LoginResult:
    """Check a login (throttled per address, per account and address, and per account).

    A throttled try is answered before the password is looked at. A wrong email, password
    or second-factor code is one answer ("wrong") and counts one failure on every key.
    """
    moment = now or utcnow()
    with db.transaction(services.sessions) as session:
        row = account_store.account_by_email(session, _lookup_email(email))
        account_id = row.id if row is not None else None
        known = account_id is not None and account_store.logged_in_from(
            session, account_id, ip, since=moment - throttle.KNOWN_ADDRESS
        )
        keys = throttle.keys_for(ip, account_id=account_id, free=free, known=known)
        wait = _wait(session, keys, moment)
        if wait > timedelta(0):
            return LoginResult(None, "too_many", max(1, int(wait.total_seconds() + 0.999)))
        ok = passwords.verify_password(row.password_hash if row else None, password)
        if ok and row is not None and row.totp_secret is not None:
            ok = _second_factor(session, row, code, moment)
        if not ok or row is None:
            _fail(session, keys, moment)
            return LoginResult(None, "wrong")
        account_store.clear_throttles(session, [k.name for k in keys if k.name != f"ip:{ip}"])
        return LoginResult(Account.of(row))


def _second_factor(session: Session, row: AdminAccount, code: str, now: datetime) -> bool:
    assert row.totp_secret is not None
    if totp.looks_like_recovery_code(code):
        used = account_store.use_recovery_code(session, row.id, totp.recovery_hash(code), now=now)
        if used:
            account_store.record_action(session, "recovery_code_used", actor=row.email)
        return used
    step = totp.accepted_step(row.totp_secret, code, after=row.totp_last_step)
    if step is None:
        return False
    row.totp_last_step = step  # this code (and any earlier one) is used up
    return True


def _wait(session: Session, keys: list[throttle.Key], now: datetime) -> timedelta:
    rows = {r.key: r for r in account_store.throttles(session, [k.name for k in keys])}
    waits = [
        rows[k.name].blocked_until - now
        for k in keys
        if k.name in rows
        and throttle.current_failures(rows[k.name].failures, rows[k.name].last_failure_at, now)
    ]
    return max(waits, default=timedelta(0))


def _fail(session: Session, keys: list[throttle.Key], now: datetime) -> None:
    rows = {r.key: r for r in account_store.throttles(session, [k.name for k in keys])}
    for key in keys:
        row = rows.get(key.name)
        before = throttle.current_failures(row.failures, row.last_failure_at, now) if row else 0
        failures = before + 1
        until = now + throttle.wait_after(failures, key.free)
        account_store.save_throttle(
            session, key.name, failures=failures, now=now, blocked_until=until
        )


# --- second factor -----------------------------------------------------------------------


def totp_required(services: Services) -> bool:
    """Whether an owner requires a second factor of every account."""
    with services.sessions() as session:
        return account_store.policy(session, REQUIRE_TOTP) == "1"


def set_totp_required(services: Services, required: bool, *, actor: str) -> None:
    """Require (or stop requiring) a second factor of every account."""
    with db.transaction(services.sessions) as session:
        account_store.set_policy(session, REQUIRE_TOTP, "1" if required else "0")
        account_store.record_action(
            session, "require_totp", actor=actor, detail={"required": required}
        )


def enable_totp(services: Services, account_id: int, secret: str, code: str) -> list[str]:
    """Turn the second factor on once ``code`` proves the app has ``secret``; returns the
    recovery codes (shown once, stored hashed)."""
    if not totp.is_secret(secret):
        raise AccountError("the key is not a TOTP secret: reload the page and try again")
    step = totp.accepted_step(secret, code, after=None)
    if step is None:
        raise AccountError("that code is not right: check the app's clock and try again")
    codes = totp.new_recovery_codes()
    with db.transaction(services.sessions) as session:
        account = account_store.account_by_id(session, account_id)
        if account is None:
            raise AccountError("no such account")
        account.totp_secret = secret
        account.totp_last_step = step  # the code just shown cannot log in again
        account_store.replace_recovery_codes(
            session, account.id, [totp.recovery_hash(c) for c in codes]
        )
        account_store.record_action(session, "totp_enabled", actor=account.email)
    return codes


def disable_totp(services: Services, account_id: int, password: str) -> None:
    """Turn one's second factor off (the password is asked; refused while required)."""
    if totp_required(services):
        raise AccountError("an owner requires a second factor for every account")
    with db.transaction(services.sessions) as session:
        account = account_store.account_by_id(session, account_id)
        if account is None or not passwords.verify_password(account.password_hash, password):
            raise AccountError("the password is not right")
        account.totp_secret = None
        account.totp_last_step = None
        account_store.replace_recovery_codes(session, account.id, [])
        account_store.record_action(session, "totp_disabled", actor=account.email)


def recovery_codes_left(services: Services, account_id: int) -> int:
    """How many unused recovery codes the account has."""
    with services.sessions() as session:
        return account_store.unused_recovery_codes(session, account_id)


def reset_request_allowed(services: Services, *, ip: str, free: int) -> bool:
    """Count one "forgot my password" request from ``ip``; False while it must wait (the
    login throttle's rule, on its own key)."""
    moment = utcnow()
    keys = [throttle.Key(f"reset:{ip}", free)]
    with db.transaction(services.sessions) as session:
        if _wait(session, keys, moment) > timedelta(0):
            return False
        _fail(session, keys, moment)
        return True
