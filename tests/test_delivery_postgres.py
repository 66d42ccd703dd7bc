"""Delivery on PostgreSQL: SKIP LOCKED batch claims and several workers, never a duplicate."""

from __future__ import annotations

import mailbox
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter import db
from newsletter.delivery import RunOptions, SendResult, create_send, store
from newsletter.delivery.worker import claim_next, work
from newsletter.services import Services
from newsletter.settings import load_settings
from subscribers.db import utcnow
from tests.conftest import base_config, write_config
from tests.fixtures.delivery import add_audience, stand_in_renderer, with_delivery

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_services(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Services]:
    config = base_config(tmp_path)
    config["database"] = {"url": postgres_url}
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    opened = Services.open(load_settings(write_config(tmp_path, config)))
    yield opened
    opened.close()


def test_concurrent_batch_claims_skip_each_others_rows(pg_services: Services) -> None:
    add_audience(pg_services, 30)
    send_id = create_send(pg_services, "hello", renderer=stand_in_renderer)
    worker = "w1"
    assert claim_next(pg_services, worker=worker) == send_id
    now = utcnow()
    with pg_services.sessions() as first, first.begin():
        _, rows_a = store.claim_batch(
            first, send_id, newsletter_id="weekly", batch="a", worker="w1", limit=10, now=now
        )
        # Second transaction while the first still holds its row locks.
        with pg_services.sessions() as second, second.begin():
            _, rows_b = store.claim_batch(
                second, send_id, newsletter_id="weekly", batch="b", worker="w2", limit=10, now=now
            )
    ids_a = {r.delivery_id for r in rows_a}
    ids_b = {r.delivery_id for r in rows_b}
    assert len(ids_a) == 10 and len(ids_b) == 10 and not ids_a & ids_b


def test_two_workers_share_the_sends_and_mail_each_reader_once(pg_services: Services) -> None:
    add_audience(pg_services, 40)
    small = with_delivery(pg_services, batch_size=7)
    send_ids = [create_send(small, slug, renderer=stand_in_renderer) for slug in ("a", "b", "c")]
    finished: list[int] = []
    lock = threading.Lock()

    def record(result: SendResult) -> None:
        with lock:
            finished.append(result.send_id)

    def stop() -> bool:
        with lock:
            return set(finished) >= set(send_ids)

    options = RunOptions(renderer=stand_in_renderer)
    threads = [
        threading.Thread(
            target=work,
            args=(small,),
            kwargs={"stop": stop, "idle": 0.05, "options": options, "on_result": record},
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Every send finished; a worker that joined a send (its batches) reports it too.
    assert sorted(set(finished)) == sorted(send_ids)
    with db.transaction(pg_services.sessions) as session:
        for send_id in send_ids:
            counts = store.counts(session, send_id)
            assert counts["accepted"] == 40 and counts["sending"] == 0, (
                counts,
                store.recent_errors(session, send_id),
            )
            assert store.get_send(session, send_id).status == "sent"  # type: ignore[union-attr]
    box = mailbox.Maildir(small.settings.path(small.settings.delivery.outbox_dir))
    pairs = [(m["Subject"], m["To"]) for m in (box.get_message(k) for k in box.iterkeys())]
    assert len(pairs) == 3 * 40 and len(set(pairs)) == 3 * 40  # nobody got an issue twice
