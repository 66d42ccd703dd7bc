"""Bulk import and export of subscribers: set-based SQL over a staging table.

A million-row import must take seconds, so rows are never ORM objects. The file is read
and validated in Python (:mod:`subscribers.csvio`) and streamed with ``executemany`` into
a temporary staging table, which also merges duplicates (``ON CONFLICT``). Then a handful
of ``UPDATE``/``INSERT … SELECT`` statements classify every staged row against the store
and apply the lot: new people, new subscriptions, consent records and events.

Rules: suppressed addresses (and people bounced, complained or erased) are skipped and
counted; an ``unsubscribed`` subscription stays unsubscribed; with invalid rows nothing is
written unless ``partial``; ``dry_run`` classifies and counts but writes nothing.
Like the service, nothing here commits.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TextIO, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from subscribers import ad_import
from subscribers.csvio import (
    Progress,
    Reject,
    RejectsWriter,
    Row,
    guard,
    read_rows,
    sniff_format,
    write_export_header,
)
from subscribers.db import UTCDateTime, utcnow
from subscribers.errors import ImportRejected
from subscribers.events import EventKind, How
from subscribers.models import (
    ConsentRecord,
    Event,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from subscribers.queries import list_subscriptions
from subscribers.service import require_newsletters

_LIVE = (SubscriptionStatus.ACTIVE.value, SubscriptionStatus.PENDING.value)
_BATCH = 20_000
_SAMPLE = 20
_SQLITE_CACHE_KIB = int(os.environ.get("SUBSCRIBERS_IMPORT_CACHE_KIB", "65536"))

staging = Table(
    "subscriber_import",
    MetaData(),
    # ``line`` is the row id: walking the table in file order needs no sort, and new people
    # get ids in that order, so later inserts append to the indexes.
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("email", String(320), nullable=False),
    Column("email_normalized", String(320), nullable=False, unique=True),
    Column("email_hash", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("opt_out", Boolean, nullable=False),
    Column("ad_consent", Boolean),  # None: the file says nothing (docs/advertising.md)
    Column("timezone", String(64), nullable=False),  # "": keep the person's
    Column("ad_action", String(16)),  # give / withdraw (subscribers.ad_import)
    Column("subscriber_id", Integer),
    Column("person_status", String(16)),
    Column("person_name", String(200)),
    Column("sub_status", String(16)),
    Column("action", String(16)),
    prefixes=["TEMPORARY"],
)
_S = cast(Table, Subscriber.__table__)
_SUB = cast(Table, Subscription.__table__)
_CONSENTS = cast(Table, ConsentRecord.__table__)
_EVENTS = cast(Table, Event.__table__)


@dataclass
class ImportSummary:
    """What an import did (or, with ``dry_run``, would do)."""

    file: str
    encoding: str
    delimiter: str
    rows: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    invalid: int = 0
    suppressed: int = 0
    opted_out: int = 0
    ad_given: int = 0
    ad_withdrawn: int = 0
    #: ``true`` rows of people who withdrew that consent: kept withdrawn (docs/advertising.md).
    ad_kept_withdrawn: int = 0
    dry_run: bool = False
    rejects_file: str | None = None
    rejects: list[Reject] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--json``)."""
        data = dict(self.__dict__)
        data["rejects"] = [
            {"line": r.line, "email": r.value, "reason": r.reason} for r in self.rejects
        ]
        return data


def import_csv(
    session: Session,
    path: Path,
    *,
    newsletter_id: str,
    confirmed: bool = False,
    partial: bool = False,
    dry_run: bool = False,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    actor: str = "",
) -> ImportSummary:
    """Import the subscribers in the CSV file ``path`` into ``newsletter_id``.

    Without ``confirmed`` new subscriptions are ``pending`` (they need a confirmation);
    with it they are ``active`` (single opt-in, recorded as such). Invalid rows go to
    ``rejects_path`` (default ``<file>.rejects.csv``) and, unless ``partial``, make the
    whole import fail with ``ImportRejected`` before anything is written.
    """
    require_newsletters(session, [newsletter_id])
    fmt = sniff_format(path)
    summary = ImportSummary(str(path), fmt.encoding, fmt.delimiter, dry_run=dry_run)
    if rejects_path is None and not dry_run:
        rejects_path = path.with_name(f"{path.stem}.rejects.csv")
    rejects = RejectsWriter(None if dry_run else rejects_path)
    connection = session.connection()
    staging.drop(connection, checkfirst=True)
    staging.create(connection)
    if connection.dialect.name == "sqlite":
        # A bigger page cache for this connection while a million index entries go in.
        connection.exec_driver_sql(f"PRAGMA main.cache_size=-{_SQLITE_CACHE_KIB}")
        connection.exec_driver_sql(f"PRAGMA temp.cache_size=-{_SQLITE_CACHE_KIB}")
    try:
        valid = _stage(session, read_rows(path, fmt, progress=progress), rejects, summary)
        summary.rows, summary.invalid = valid + rejects.count, rejects.count
        summary.rejects_file = str(rejects.path) if rejects.count and rejects.path else None
        staged = int(session.scalar(select(func.count()).select_from(staging)) or 0)
        summary.duplicates = valid - staged
        if summary.invalid and not partial:
            first = summary.rejects[0]
            where = f"; see {summary.rejects_file}" if summary.rejects_file else ""
            raise ImportRejected(
                f"{path}: {summary.invalid} invalid row(s), first at line {first.line}: "
                f"{first.reason}{where}; nothing imported (use --partial to import the rest)"
            )
        _analyze(session, "subscriber_import")
        _classify(session, newsletter_id, confirmed=confirmed)
        _analyze(session, "subscriber_import")
        _count(session, summary)
        ad_counts = ad_import.count(session, staging, newsletter_id)
        summary.ad_given, summary.ad_withdrawn, summary.ad_kept_withdrawn = ad_counts
        if not dry_run:
            _apply(session, newsletter_id, confirmed=confirmed, actor=actor)
            ad_import.apply(session, staging, newsletter_id, actor=actor)
    finally:
        rejects.close()
        staging.drop(connection, checkfirst=True)
        if connection.dialect.name == "sqlite":
            for schema in ("main", "temp"):  # back to SQLite's default: the memory goes back
                connection.exec_driver_sql(f"PRAGMA {schema}.cache_size=-2000")
    return summary


def _stage(session: Session, items: Any, rejects: RejectsWriter, summary: ImportSummary) -> int:
    """Stream valid rows into the staging table (duplicates merge); returns how many."""
    connection = session.connection()
    writer: _StagingWriter = (
        _CopyWriter(connection)
        if connection.dialect.driver == "psycopg"
        else _InsertWriter(connection)
    )
    batch: list[Row] = []
    valid = 0
    for item in items:
        if isinstance(item, Row):
            batch.append(item)
            if len(batch) >= _BATCH:
                writer.write(batch)
                valid += len(batch)
                batch = []
        else:
            rejects.add(item)
            if len(summary.rejects) < _SAMPLE:
                summary.rejects.append(item)
    if batch:
        writer.write(batch)
        valid += len(batch)
    writer.finish()
    return valid


_COLUMNS = "line, email, email_normalized, email_hash, name, opt_out, ad_consent, timezone"


class _StagingWriter(Protocol):
    def write(self, batch: list[Row]) -> None: ...

    def finish(self) -> None: ...


class _InsertWriter:
    """``executemany`` of an upsert: the staging table's unique index merges duplicates."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        self.sql = (
            f"INSERT INTO subscriber_import ({_COLUMNS}) VALUES ({', '.join([mark] * 8)}) "
            "ON CONFLICT (email_normalized) DO UPDATE SET name = excluded.name "
            "WHERE subscriber_import.name = '' AND excluded.name <> ''"
        )

    def write(self, batch: list[Row]) -> None:
        self.connection.exec_driver_sql(self.sql, batch)

    def finish(self) -> None:
        pass


class _CopyWriter:
    """PostgreSQL: ``COPY`` into an unconstrained table, then merge duplicates in one
    ``INSERT … SELECT DISTINCT ON`` (first line wins, and the first non-empty name)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        connection.exec_driver_sql("DROP TABLE IF EXISTS subscriber_import_raw")
        connection.exec_driver_sql(
            "CREATE TEMPORARY TABLE subscriber_import_raw (line integer, email text, "
            "email_normalized text, email_hash text, name text, opt_out boolean, "
            "ad_consent boolean, timezone text)"
        )

    def write(self, batch: list[Row]) -> None:
        driver = self.connection.connection.driver_connection
        assert driver is not None
        copy_sql = f"COPY subscriber_import_raw ({_COLUMNS}) FROM STDIN"
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in batch:
                copy.write_row(row)

    def finish(self) -> None:
        self.connection.exec_driver_sql(
            f"INSERT INTO subscriber_import ({_COLUMNS}) "
            "SELECT DISTINCT ON (email_normalized) line, email, email_normalized, email_hash, "
            "coalesce(first_value(nullif(name, '')) OVER (PARTITION BY email_normalized "
            "ORDER BY (name = ''), line), ''), opt_out, ad_consent, timezone "
            "FROM subscriber_import_raw ORDER BY email_normalized, line"
        )
        self.connection.exec_driver_sql("DROP TABLE subscriber_import_raw")


def _analyze(session: Session, *tables: str) -> None:
    """PostgreSQL: refresh the planner's statistics of tables this import just filled.

    Temporary tables are never auto-analyzed, and rows written earlier in this transaction
    are invisible to autovacuum: without fresh statistics the planner takes the staging
    table for empty and joins it by nested loops, O(rows²): minutes at 100,000 rows.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"ANALYZE {', '.join(tables)}")


def _classify(session: Session, newsletter_id: str, *, confirmed: bool) -> None:
    """Mark each staged row: suppressed, new, subscribe, activate or keep."""
    st = staging.c
    session.execute(
        update(staging)
        .values(subscriber_id=_S.c.id, person_status=_S.c.status, person_name=_S.c.name)
        .where(_S.c.email_normalized == st.email_normalized)
    )
    session.execute(
        update(staging)
        .values(action="suppressed")
        .where(
            or_(
                st.email_hash.in_(select(Suppression.email_hash)),
                and_(
                    st.person_status.is_not(None),
                    st.person_status != SubscriberStatus.ACTIVE.value,
                ),
            )
        )
    )
    # A row saying "unsubscribed" (an export of someone who left) is an opt-out, honoured.
    session.execute(update(staging).values(action="opt_out").where(st.action.is_(None), st.opt_out))
    current = (
        select(_SUB.c.status)
        .where(_SUB.c.subscriber_id == st.subscriber_id, _SUB.c.newsletter_id == newsletter_id)
        .scalar_subquery()
    )
    session.execute(
        update(staging)
        .values(sub_status=current)
        .where(st.subscriber_id.is_not(None), or_(st.action.is_(None), st.action == "opt_out"))
    )
    whens: list[tuple[Any, str]] = [
        (st.subscriber_id.is_(None), "new"),
        (st.sub_status.is_(None), "subscribe"),
    ]
    if confirmed:
        whens.append((st.sub_status == SubscriptionStatus.PENDING.value, "activate"))
    session.execute(
        update(staging).values(action=case(*whens, else_="keep")).where(st.action.is_(None))
    )


def _renamed() -> Any:
    st = staging.c
    return and_(st.name != "", st.name != func.coalesce(st.person_name, ""))


def _count(session: Session, summary: ImportSummary) -> None:
    renamed = case((_renamed(), 1), else_=0)
    query = select(staging.c.action, renamed, func.count()).group_by(staging.c.action, renamed)
    for action, is_renamed, count in session.execute(query):
        if action in ("new", "subscribe"):
            summary.imported += count
        elif action == "activate" or (action == "keep" and is_renamed):
            summary.updated += count
        elif action == "keep":
            summary.unchanged += count
        elif action == "suppressed":
            summary.suppressed += count
        elif action == "opt_out":
            summary.opted_out += count


def _apply(session: Session, newsletter_id: str, *, confirmed: bool, actor: str) -> None:
    """Write the classified rows: people, subscriptions, consent records, events, names."""
    now = utcnow()
    st = staging.c
    at = literal(now, UTCDateTime())
    added = st.action.in_(["new", "subscribe"])
    session.execute(
        insert(_S).from_select(
            [
                *("email", "email_normalized", "email_hash", "name", "locale", "timezone"),
                *("status", "created_at", "updated_at"),
            ],
            select(st.email, st.email_normalized, st.email_hash, st.name, literal(""))
            .add_columns(st.timezone, literal(SubscriberStatus.ACTIVE.value), at, at)
            .where(st.action == "new")
            .order_by(st.line),
            include_defaults=False,
        )
    )
    new_id = select(_S.c.id).where(_S.c.email_normalized == st.email_normalized)
    session.execute(
        update(staging).values(subscriber_id=new_id.scalar_subquery()).where(st.action == "new")
    )
    _insert_subscriptions(session, newsletter_id, added, now=now, confirmed=confirmed)
    _insert_consents(session, newsletter_id, added, now=now, confirmed=confirmed)
    _insert_events(
        session,
        EventKind.SUBSCRIBED,
        newsletter_id,
        added,
        now=now,
        actor=actor,
        detail={"confirmed": confirmed},
    )
    if confirmed:
        activating = select(st.subscriber_id).where(st.action == "activate")
        session.execute(
            update(_SUB)
            .values(status=SubscriptionStatus.ACTIVE.value, confirmed_at=now)
            .where(
                _SUB.c.newsletter_id == newsletter_id,
                _SUB.c.status == SubscriptionStatus.PENDING.value,
                _SUB.c.subscriber_id.in_(activating),
            )
        )
        _insert_events(
            session,
            EventKind.CONFIRMED,
            newsletter_id,
            st.action == "activate",
            now=now,
            actor=actor,
            detail={},
        )
    _analyze(session, "subscriber_import", "subscribers", "subscriptions")
    _apply_opt_outs(session, newsletter_id, now=now, actor=actor)
    _apply_names(session, now=now, actor=actor)
    _apply_timezones(session, now=now, actor=actor)


def _apply_opt_outs(session: Session, newsletter_id: str, *, now: datetime, actor: str) -> None:
    st = staging.c
    leaving = and_(st.action == "opt_out", st.sub_status.in_(_LIVE))
    session.execute(
        update(_SUB)
        .values(status=SubscriptionStatus.UNSUBSCRIBED.value, unsubscribed_at=now)
        .where(
            _SUB.c.newsletter_id == newsletter_id,
            _SUB.c.status.in_(_LIVE),
            _SUB.c.subscriber_id.in_(select(st.subscriber_id).where(leaving)),
        )
    )
    _insert_events(
        session, EventKind.UNSUBSCRIBED, newsletter_id, leaving, now=now, actor=actor, detail={}
    )


def _insert_subscriptions(
    session: Session, newsletter_id: str, where: Any, *, now: datetime, confirmed: bool
) -> None:
    status = SubscriptionStatus.ACTIVE if confirmed else SubscriptionStatus.PENDING
    at = literal(now, UTCDateTime())
    confirmed_at = at if confirmed else literal(None, UTCDateTime())
    session.execute(
        insert(_SUB).from_select(
            ["subscriber_id", "newsletter_id", "status", "source", "created_at", "confirmed_at"],
            select(staging.c.subscriber_id, literal(newsletter_id), literal(status.value))
            .add_columns(literal(How.IMPORT.value), at, confirmed_at)
            .where(where)
            .order_by(staging.c.line),
            include_defaults=False,
        )
    )


def _insert_consents(
    session: Session, newsletter_id: str, where: Any, *, now: datetime, confirmed: bool
) -> None:
    at = literal(now, UTCDateTime())
    columns = ["subscriber_id", "created_at", "source", "ip", "user_agent", "wording_version"]
    session.execute(
        insert(_CONSENTS).from_select(
            [*columns, "newsletters", "confirmed_at", "confirmed_ip"],
            select(staging.c.subscriber_id, at, literal(How.IMPORT.value), literal(""))
            .add_columns(literal(""), literal(""), literal([newsletter_id], JSON))
            .add_columns(at if confirmed else literal(None, UTCDateTime()), literal(""))
            .where(where)
            .order_by(staging.c.line),
            include_defaults=False,
        )
    )


def _insert_events(
    session: Session,
    kind: EventKind,
    newsletter_id: str | None,
    where: Any,
    *,
    now: datetime,
    actor: str,
    detail: dict[str, Any],
) -> None:
    columns = ["created_at", "subscriber_id", "newsletter_id", "kind", "how", "actor", "detail"]
    session.execute(
        insert(_EVENTS).from_select(
            columns,
            select(literal(now, UTCDateTime()), staging.c.subscriber_id)
            .add_columns(literal(newsletter_id, String), literal(kind.value))
            .add_columns(literal(How.IMPORT.value), literal(actor), literal(detail, JSON))
            .where(where)
            .order_by(staging.c.line),
            include_defaults=False,
        )
    )


def _apply_names(session: Session, *, now: datetime, actor: str) -> None:
    st = staging.c
    renaming = and_(st.action.in_(["subscribe", "activate", "keep"]), _renamed())
    new_name = select(st.name).where(st.subscriber_id == _S.c.id).scalar_subquery()
    session.execute(
        update(_S)
        .values(name=new_name, updated_at=now)
        .where(_S.c.id.in_(select(st.subscriber_id).where(renaming)))
    )
    _insert_events(
        session,
        EventKind.PREFERENCES_CHANGED,
        None,
        renaming,
        now=now,
        actor=actor,
        detail={"fields": ["name"]},
    )


def _apply_timezones(session: Session, *, now: datetime, actor: str) -> None:
    """Existing people whose row names another (valid) timezone get it, with an event."""
    st = staging.c
    current = select(_S.c.timezone).where(_S.c.id == st.subscriber_id).scalar_subquery()
    rezoned = and_(
        st.action.in_(["subscribe", "activate", "keep"]),
        st.timezone != "",
        st.timezone != current,
    )
    _insert_events(
        session,
        EventKind.PREFERENCES_CHANGED,
        None,
        rezoned,
        now=now,
        actor=actor,
        detail={"fields": ["timezone"]},
    )
    new_zone = select(st.timezone).where(st.subscriber_id == _S.c.id).scalar_subquery()
    session.execute(
        update(_S)
        .values(timezone=new_zone, updated_at=now)
        .where(_S.c.id.in_(select(st.subscriber_id).where(rezoned)))
    )


def export_csv(
    session: Session,
    out: TextIO,
    *,
    newsletter_id: str | None = None,
    statuses: Sequence[str] = (),
    page_size: int = 5000,
) -> int:
    """Write subscriptions as CSV (``email,name,newsletter,status,…``); returns the rows.

    Streams in keyset pages; the file re-imports with ``import_csv``.
    """
    writer = write_export_header(out)
    after, written = (0, ""), 0
    while page := list_subscriptions(
        session, newsletter_id=newsletter_id, statuses=statuses, after=after, limit=page_size
    ):
        for row in page:
            writer.writerow(
                {
                    "email": guard(row.email),
                    "name": guard(row.name),
                    "newsletter": row.newsletter_id,
                    "status": row.status,
                    "subscribed_at": row.created_at.isoformat(),
                    "confirmed_at": row.confirmed_at.isoformat() if row.confirmed_at else "",
                }
            )
        written += len(page)
        after = (page[-1].id, page[-1].newsletter_id)
    return written
