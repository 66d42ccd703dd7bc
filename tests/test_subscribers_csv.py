from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from subscribers.addresses import address_hash, clean_name
from subscribers.bulk import export_csv, import_csv
from subscribers.csvio import Reject, Row, guard, read_rows, sniff_format, unguard
from subscribers.errors import ImportRejected
from subscribers.models import ConsentRecord, Event, Subscriber, Subscription
from subscribers.privacy import erase, mark_complained
from subscribers.queries import active_recipients, find_subscriber
from subscribers.service import subscribe, unsubscribe

WriteCsv = Callable[..., Path]


def _people(session: Session, newsletter_id: str = "weekly") -> dict[str, tuple[str, str]]:
    query = (
        select(Subscriber.email, Subscriber.name, Subscription.status)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(Subscription.newsletter_id == newsletter_id)
    )
    return {email: (name, status) for email, name, status in session.execute(query)}


def test_cp949_semicolons_and_korean_headers(session: Session, write_csv: WriteCsv) -> None:
    path = write_csv(
        "번호;이름;이메일\n1;김민수;kim@example.org\n2;이영희;lee@example.org\n", encoding="cp949"
    )
    summary = import_csv(session, path, newsletter_id="weekly")
    assert (summary.encoding, summary.delimiter, summary.imported) == ("cp949", ";", 2)
    assert _people(session) == {
        "kim@example.org": ("김민수", "pending"),
        "lee@example.org": ("이영희", "pending"),
    }


def test_utf8_bom_tabs_and_english_headers(session: Session, write_csv: WriteCsv) -> None:
    path = write_csv("E-mail\tFull Name\nann@example.org\tAnn Lee\n", encoding="utf-8-sig")
    summary = import_csv(session, path, newsletter_id="weekly", confirmed=True)
    assert (summary.encoding, summary.delimiter) == ("utf-8-sig", "\t")
    assert _people(session) == {"ann@example.org": ("Ann Lee", "active")}


def test_file_without_header(session: Session, write_csv: WriteCsv) -> None:
    path = write_csv("Ann,ann@example.org\nBo,bo@example.org\n")
    assert import_csv(session, path, newsletter_id="weekly").imported == 2
    assert _people(session)["ann@example.org"] == ("Ann", "pending")


def test_header_without_email_column_is_refused(session: Session, write_csv: WriteCsv) -> None:
    path = write_csv("name,phone\nAnn,010\nBo,011\n")
    with pytest.raises(ImportRejected, match="no email column"):
        import_csv(session, path, newsletter_id="weekly")


def test_duplicates_are_merged_and_counted(session: Session, write_csv: WriteCsv) -> None:
    path = write_csv("email,name\nann@example.org,\nANN@Example.org,Ann\nann@example.org,Other\n")
    summary = import_csv(session, path, newsletter_id="weekly")
    assert (summary.rows, summary.imported, summary.duplicates) == (3, 1, 2)
    assert _people(session) == {"ann@example.org": ("Ann", "pending")}


def test_invalid_rows_fail_the_whole_import(session: Session, write_csv: WriteCsv) -> None:
    path = write_csv(
        "email,name\nok@example.org,A\nnot-an-address,B\n"
        '"x@y.com\r\nBcc: z@y.com",C\nok2@example.org,D\n'
    )
    with pytest.raises(ImportRejected, match="2 invalid row"):
        import_csv(session, path, newsletter_id="weekly")
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
    rejects = path.with_name("people.rejects.csv")
    lines = list(csv.DictReader(io.StringIO(rejects.read_text(encoding="utf-8-sig"))))
    assert [int(r["line"]) for r in lines] == [3, 5]  # the quoted field spans lines 4-5


def test_partial_imports_the_valid_rows(
    session: Session, write_csv: WriteCsv, tmp_path: Path
) -> None:
    path = write_csv("email\nok@example.org\nbroken@\n")
    rejects = tmp_path / "bad.csv"
    summary = import_csv(session, path, newsletter_id="weekly", partial=True, rejects_path=rejects)
    assert (summary.imported, summary.invalid, summary.rejects_file) == (1, 1, str(rejects))
    assert summary.rejects == [Reject(3, "broken@", summary.rejects[0].reason)]
    assert "ok@example.org" in _people(session)


def test_dry_run_counts_and_writes_nothing(session: Session, write_csv: WriteCsv) -> None:
    path = write_csv("email\nok@example.org\nbroken@\nok@example.org\n")
    summary = import_csv(session, path, newsletter_id="weekly", partial=True, dry_run=True)
    assert (summary.imported, summary.invalid, summary.duplicates) == (1, 1, 1)
    assert summary.rejects_file is None and not path.with_name("people.rejects.csv").exists()
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_each_import_writes_consent_and_events(session: Session, write_csv: WriteCsv) -> None:
    path = write_csv("email\na@example.org\nb@example.org\n")
    import_csv(session, path, newsletter_id="weekly", confirmed=True, actor="cli")
    consents = session.scalars(select(ConsentRecord)).all()
    assert [(c.source, c.newsletters, c.confirmed_at is not None) for c in consents] == [
        ("import", ["weekly"], True)
    ] * 2
    events = session.scalars(select(Event)).all()
    assert {(e.kind, e.how, e.actor, e.newsletter_id) for e in events} == {
        ("subscribed", "import", "cli", "weekly")
    }
    assert len(events) == 2
    assert [r.email for r in active_recipients(session, "weekly")] == [
        "a@example.org",
        "b@example.org",
    ]


def test_suppressed_addresses_survive_reimport(
    session: Session, write_csv: WriteCsv, add_active: Callable[..., int]
) -> None:
    add_active("complained@example.org")
    erased = add_active("erased@example.org")
    mark_complained(session, email="complained@example.org")
    erase(session, subscriber_id=erased)
    path = write_csv("email\ncomplained@example.org\nERASED@example.org\nnew@example.org\n")
    summary = import_csv(session, path, newsletter_id="weekly", confirmed=True)
    assert (summary.suppressed, summary.imported) == (2, 1)
    assert [r.email for r in active_recipients(session, "weekly")] == ["new@example.org"]
    assert find_subscriber(session, "erased@example.org") is None


def test_opt_out_is_never_lost(
    session: Session, write_csv: WriteCsv, add_active: Callable[..., int]
) -> None:
    person = add_active("left@example.org")
    unsubscribe(session, subscriber_id=person)
    staying = add_active("stays@example.org")
    path = write_csv(
        "email,name,status\nleft@example.org,Left,active\n"
        "stays@example.org,,unsubscribed\nnever@example.org,,unsubscribed\n"
    )
    summary = import_csv(session, path, newsletter_id="weekly", confirmed=True)
    assert (summary.imported, summary.opted_out) == (0, 2)
    assert _people(session)["left@example.org"] == ("Left", "unsubscribed")
    assert _people(session)["stays@example.org"][1] == "unsubscribed"
    assert find_subscriber(session, "never@example.org") is None
    assert staying and active_recipients(session, "weekly") == []


def test_confirmed_import_activates_pending(session: Session, write_csv: WriteCsv) -> None:
    subscribe(session, email="p@example.org", newsletters=["weekly"])
    path = write_csv("email\np@example.org\n")
    assert import_csv(session, path, newsletter_id="weekly").unchanged == 1
    summary = import_csv(session, path, newsletter_id="weekly", confirmed=True)
    assert summary.updated == 1 and _people(session)["p@example.org"][1] == "active"


def test_progress_reaches_the_file_size(session: Session, write_csv: WriteCsv) -> None:
    path = write_csv("email\n" + "".join(f"r{i}@example.org\n" for i in range(50)))
    seen: list[tuple[int, int]] = []
    import_csv(session, path, newsletter_id="weekly", progress=lambda d, t: seen.append((d, t)))
    size = path.stat().st_size
    assert seen[-1] == (size, size)


def test_sniffing_reads_the_format(write_csv: WriteCsv) -> None:
    path = write_csv("mail|name|status\na@example.org|A|active\n")
    fmt = sniff_format(path)
    assert (fmt.delimiter, fmt.email_column, fmt.name_column, fmt.status_column) == ("|", 0, 1, 2)
    digest = address_hash("a@example.org")
    assert list(read_rows(path, fmt)) == [
        Row(2, "a@example.org", "a@example.org", digest, "A", False)
    ]


def test_formula_cells_are_guarded_and_round_trip(session: Session, write_csv: WriteCsv) -> None:
    path = write_csv("email,name\n=cmd@example.org,=HYPERLINK(1)\n")
    import_csv(session, path, newsletter_id="weekly", confirmed=True)
    out = io.StringIO()
    export_csv(session, out)
    assert "'=cmd@example.org,'=HYPERLINK(1)" in out.getvalue()
    again = write_csv(out.getvalue(), name="again.csv")
    assert import_csv(session, again, newsletter_id="letters", confirmed=True).imported == 1
    assert _people(session, "letters") == {"=cmd@example.org": ("=HYPERLINK(1)", "active")}


#: Text rich in formula starters and their look-alikes (full-width, small, superscript…).
_RISKY = st.text(
    alphabet=st.sampled_from("=+-@'\t\r\n \u3000\u00a0＝﹦⁼₌＋﹢⁺－﹣＠﹫−aZ1한") | st.characters(),
    max_size=12,
)


@given(_RISKY)
def test_guard_round_trips(cell: str) -> None:
    assert unguard(guard(cell)) == cell
    assert not guard(cell).startswith(("=", "+", "-", "@"))


@given(_RISKY)
def test_guarded_cells_never_start_a_formula_even_through_look_alikes(cell: str) -> None:
    guarded = guard(cell)
    first = unicodedata.normalize("NFKC", guarded.lstrip()[:1])
    assert guarded[:1] not in ("\t", "\r", "\n")
    assert first[:1] not in ("=", "+", "-", "@", "\u2212"), (cell, guarded)


def test_full_width_formula_is_guarded_in_the_export(session: Session, write_csv: WriteCsv) -> None:
    path = write_csv('email,name\nfw@example.org,"＝HYPERLINK(""http://evil"")"\n')
    import_csv(session, path, newsletter_id="weekly", confirmed=True)
    out = io.StringIO()
    export_csv(session, out)
    assert "fw@example.org,\"'＝HYPERLINK" in out.getvalue()
    again = write_csv(out.getvalue(), name="again.csv")
    assert import_csv(session, again, newsletter_id="letters", confirmed=True).imported == 1
    assert _people(session, "letters")["fw@example.org"][0] == '＝HYPERLINK("http://evil")'


LOCAL = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+=-", min_size=1, max_size=12
).filter(lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s)
NAME = st.text(alphabet=st.sampled_from(list("가나다라김이박 ,;\"'=+-@abcXYZ\t")), max_size=15)
PEOPLE = st.dictionaries(LOCAL.map(lambda s: f"{s}@example.org"), NAME, max_size=20)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(people=PEOPLE, encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp949"]))
def test_import_of_generated_rows_equals_its_export(
    session: Session, tmp_path: Path, people: dict[str, str], encoding: str
) -> None:
    people = {email.lower(): name for email, name in people.items()}
    source = io.StringIO()
    writer = csv.writer(source)
    writer.writerow(["이메일", "이름"])
    writer.writerows(people.items())
    path = tmp_path / "generated.csv"
    path.write_bytes(source.getvalue().encode(encoding))
    try:
        summary = import_csv(session, path, newsletter_id="weekly", confirmed=True)
        assert summary.imported == len(people) and summary.invalid == 0
        out = io.StringIO()
        assert export_csv(session, out, newsletter_id="weekly") == len(people)
        exported = {(r["email"], r["name"]) for r in csv.DictReader(io.StringIO(out.getvalue()))}
        export_path = tmp_path / "export.csv"
        export_path.write_text(out.getvalue(), encoding="utf-8")
        reread = {(r.email, r.name) for r in read_rows(export_path, sniff_format(export_path))}
        # A leading ' before = + - @ is the spreadsheet's text mark, read as such.
        assert reread == {(email, clean_name(unguard(name))) for email, name in people.items()}
        assert len(exported) == len(people)
    finally:
        session.rollback()
