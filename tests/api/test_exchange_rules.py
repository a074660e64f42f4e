"""The exchange rules of lgsp/exchange/service.py, each checked on what it writes or answers.

Accepting: exactly the rows one accept writes (the message, one delivery per recipient with the
ordering key, the ``message.accepted`` log entry and its detail, the dossier's parties), the
idempotency key (a repeat writes nothing, two sends with one key at once store one message, a
send without a key is always new), the refusals and their problem details, the routing by
sender and the ordering key. Reading: the overall status for each combination of delivery
states, who may read a message, the inbox pages and their cursors, and the acknowledgement
(once, logged once).

One served platform per module (and database), in a province whose grants leave a gap on
purpose: Natural Resources and Environment may report a dossier's status to reception points
only. Each test uses its own dossier codes and inboxes, so they do not see each other's rows.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from lgsp.auth.tokens import Principal
from lgsp.deliveries.models import Delivery
from lgsp.exchange import service
from lgsp.exchange.models import Message
from lgsp.exchange.parties import DossierParty
from lgsp.exchange.schemas import SendRequest
from lgsp.kit.ids import uuid7
from lgsp.messagelog.models import LogEntry
from lgsp.settings import PROJECT_ROOT
from tests.dvcqg.samples import sample_dossier, sample_status
from tests.support.platform import (
    IOC,
    KHDT,
    ONE_STOP,
    PORTAL,
    SAMPLE_CONFIG,
    TNMT,
    LivePlatform,
    live_platform,
)
from tests.support.services import fresh_pg_database

COMMUNE_A = "000.00.41.H56"  # commune 25501, pulls its inbox: the acknowledgement tests
COMMUNE_B = "000.00.42.H56"  # commune 25504, pulls its inbox: only the paging test sends to it
SEND_READ = "messages:send messages:read inbox:read"
KEY_RULE = "Idempotency-Key must be 1 to 200 visible ASCII characters"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LivePlatform]:
    config = tmp_path_factory.mktemp("exchange-rules") / "config"
    shutil.copytree(SAMPLE_CONFIG, config)
    grants = yaml.safe_load((config / "grants.yaml").read_text(encoding="utf-8"))
    for grant in grants["grants"]:
        if grant.get("send") == ["dossier-status"] and "@departments" in grant["agency"]:
            grant["agency"] = [KHDT, "000.00.16.H56", "@land-branches"]
    grants["grants"].append({"agency": TNMT, "send": ["dossier-status"], "to": ["@reception"]})
    (config / "grants.yaml").write_text(yaml.safe_dump(grants, allow_unicode=True), "utf-8")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('exchange-db') / 'lgsp.db'}"
        with live_platform(url, config_dir=config) as live:
            yield live
    else:
        with fresh_pg_database() as url, live_platform(url, config_dir=config) as live:
            yield live


@dataclass(frozen=True)
class Caller:
    """One client of an agency: its id, the headers of its token and who the platform says it
    is (for calling the service functions directly)."""

    client_id: str
    headers: dict[str, str]
    principal: Principal

    @property
    def agency(self) -> str:
        return self.principal.agency


def caller(live: LivePlatform, agency: str, scopes: str = SEND_READ) -> Caller:
    client_id, secret = live.new_client(agency, scopes)
    with live.http() as http:
        r = http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    principal = live.platform.verifier.principal(token)
    assert principal.client_id == client_id and principal.agency == agency
    return Caller(client_id, {"Authorization": f"Bearer {token}"}, principal)


def post(live: LivePlatform, who: Caller, body: Any, **headers: str) -> httpx.Response:
    with live.http() as http:
        return http.post("/v1/messages", json=body, headers={**who.headers, **headers})


def assert_problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = r.json()
    assert problem["type"] == f"https://lgsp.example/problems/{slug}", problem
    assert problem["status"] == status
    return problem


def dossier_code(tag: int) -> str:
    return f"{ONE_STOP}-261203-{tag:04d}"


def enterprise_dossier(tag: int) -> dict[str, Any]:
    """Enterprise registration: to Planning and Investment (pull), copied to the portal (push)."""
    return {"type": "dossier", "payload": sample_dossier(dossier_code(tag), "2.001610")}


def field_report(report_id: str, commune: str, *, resolved: bool = False) -> dict[str, Any]:
    example = PROJECT_ROOT / "schemas" / "field-report" / "examples" / "1.json"
    payload: dict[str, Any] = json.loads(example.read_text(encoding="utf-8"))
    payload["id"] = report_id
    payload["location"]["MaXa"] = commune
    if not resolved:
        payload["status"] = "received"
        for key in ("assigned_agency", "result", "reporter"):
            del payload[key]
    return {"type": "field-report", "payload": payload}


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def messages_where(live: LivePlatform, **columns: Any) -> list[Message]:
    with live.platform.sessions() as s:
        query = select(Message).order_by(Message.accepted_at)
        for name, value in columns.items():
            query = query.where(getattr(Message, name) == value)
        return list(s.scalars(query))


def deliveries_of(live: LivePlatform, message_id: str) -> list[Delivery]:
    with live.platform.sessions() as s:
        return list(
            s.scalars(
                select(Delivery).where(Delivery.message_id == message_id).order_by(Delivery.id)
            )
        )


def log_of(live: LivePlatform, message_id: str, kind: str) -> list[LogEntry]:
    with live.platform.sessions() as s:
        return list(
            s.scalars(
                select(LogEntry)
                .where(LogEntry.message_id == message_id, LogEntry.kind == kind)
                .order_by(LogEntry.id)
            )
        )


def accepted_count(message_type: str) -> float:
    value = REGISTRY.get_sample_value("lgsp_messages_accepted_total", {"type": message_type})
    return value or 0.0


# --- accepting --------------------------------------------------------------------------------


def test_an_accept_writes_the_message_its_deliveries_its_log_entry_and_the_parties(
    live: LivePlatform,
) -> None:
    office = caller(live, ONE_STOP)
    body = {**enterprise_dossier(1), "correlation_id": "motcua-77"}
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    r = post(
        live,
        office,
        body,
        **{"Idempotency-Key": "dossier-1", "traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
    )
    assert r.status_code == 202, r.text
    assert "idempotent-replayed" not in r.headers
    answer = r.json()
    code = dossier_code(1)
    assert answer["recipients"] == [KHDT, PORTAL] and answer["correlation_key"] == code

    [message] = messages_where(live, id=answer["id"])
    payload = canonical(body["payload"])
    envelope = canonical(["dossier", None, "motcua-77"])
    assert (
        message.type,
        message.sender,
        message.client_id,
        message.correlation_id,
        message.correlation_key,
        message.payload,
        message.payload_sha256,
        message.size,
        message.idempotency_key,
        message.request_sha256,
        message.trace_id,
    ) == (
        "dossier",
        ONE_STOP,
        office.client_id,
        "motcua-77",
        code,
        payload.decode(),
        hashlib.sha256(payload).hexdigest(),
        len(payload),
        "dossier-1",
        # Stored, and compared with the hash of a later repeat: the formula must not drift.
        hashlib.sha256(envelope + b"\n" + payload).hexdigest(),
        trace,
    )
    # One delivery per recipient, carrying the ordering key: the pull recipient's in its inbox.
    assert [
        (d.recipient, d.state, d.correlation_key, d.attempts, d.created_at, d.next_attempt_at)
        for d in deliveries_of(live, message.id)
    ] == [
        (KHDT, "inbox", code, 0, message.accepted_at, message.accepted_at),
        (PORTAL, "pending", code, 0, message.accepted_at, message.accepted_at),
    ]
    [entry] = log_of(live, message.id, "message.accepted")
    assert (
        entry.actor,
        entry.agency,
        entry.correlation_key,
        entry.detail,
        entry.body_sha256,
        entry.at,
    ) == (
        office.client_id,
        ONE_STOP,
        code,
        {
            "type": "dossier",
            "recipients": [KHDT, PORTAL],
            "size": len(payload),
            "correlation_id": "motcua-77",
            "idempotency_key": "dossier-1",
            "trace_id": trace,
        },
        message.payload_sha256,
        message.accepted_at,
    )
    # The dossier's parties, recorded by the message that opened it.
    with live.platform.sessions() as s:
        parties = s.scalars(select(DossierParty).where(DossierParty.dossier_code == code)).all()
        assert sorted((p.agency, p.role, p.message_id, p.added_at) for p in parties) == sorted(
            [
                (ONE_STOP, "receiver", message.id, message.accepted_at),
                (KHDT, "recipient", message.id, message.accepted_at),
                (PORTAL, "recipient", message.id, message.accepted_at),
            ]
        )
    # So a status from an office that is not a party is refused, one from a party accepted.
    status = {"type": "dossier-status", "to": ONE_STOP}
    status["payload"] = sample_status(code, 4, datetime(2026, 12, 3, 9, 0))
    outsider = post(live, caller(live, "000.00.16.H56"), status)
    assert_problem(outsider, 403, "not-a-party")
    assert post(live, caller(live, KHDT), status).status_code == 202


def test_a_repeat_is_answered_with_the_first_message_and_writes_nothing(
    live: LivePlatform,
) -> None:
    office = caller(live, ONE_STOP)
    body = enterprise_dossier(2)
    before = accepted_count("dossier")
    first = post(live, office, body, **{"Idempotency-Key": "repeat-2"})
    assert first.status_code == 202, first.text
    assert "idempotent-replayed" not in first.headers
    assert accepted_count("dossier") == before + 1
    writes = live.platform.writer.jobs

    again = post(live, office, body, **{"Idempotency-Key": "repeat-2"})
    assert again.status_code == 202, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    other = post(live, office, enterprise_dossier(3), **{"Idempotency-Key": "repeat-2"})
    assert_problem(other, 409, "idempotency-key-reused")
    # Neither the repeat nor the conflict hands a row to the writer, nor counts as accepted.
    assert live.platform.writer.jobs == writes
    assert accepted_count("dossier") == before + 1
    assert [m.id for m in messages_where(live, idempotency_key="repeat-2")] == [first.json()["id"]]

    # A key is the sender's own: another office may use it for its own message.
    commune = caller(live, COMMUNE_A)
    theirs = {"type": "dossier", "payload": sample_dossier(f"{COMMUNE_A}-261203-0002", "2.001610")}
    mine = post(live, commune, theirs, **{"Idempotency-Key": "repeat-2"})
    assert mine.status_code == 202, mine.text
    assert mine.json()["id"] != first.json()["id"] and "idempotent-replayed" not in mine.headers


def test_without_a_key_every_send_is_a_new_message(live: LivePlatform) -> None:
    office = caller(live, ONE_STOP)
    answers = [post(live, office, enterprise_dossier(4)) for _ in range(2)]
    assert [a.status_code for a in answers] == [202, 202]
    assert all("idempotent-replayed" not in a.headers for a in answers)
    ids = [a.json()["id"] for a in answers]
    assert ids[0] != ids[1]
    assert [m.id for m in messages_where(live, correlation_key=dossier_code(4))] == ids
    assert [len(deliveries_of(live, i)) for i in ids] == [2, 2]


def threads_waiting_for_a_commit() -> int:
    """How many threads are waiting for the group committer to write their rows."""
    waiting = 0
    for frame in sys._current_frames().values():
        f: Any = frame
        while f is not None:
            code = f.f_code
            if code.co_name == "_submit" and code.co_filename.endswith("groupcommit.py"):
                waiting += 1
                break
            f = f.f_back
    return waiting


@contextmanager
def writes_held(database_url: str) -> Iterator[None]:
    """Hold the database's write lock (SQLite) or the messages table against inserts
    (PostgreSQL) from another connection; reads go on."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(url.database), timeout=30, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
    else:
        import psycopg

        with psycopg.connect(database_url) as pg:
            pg.execute("LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE")
            try:
                yield
            finally:
                pg.rollback()


def test_two_sends_with_one_key_at_once_store_one_message_both_answered_with_it(
    live: LivePlatform,
) -> None:
    office = caller(live, ONE_STOP)
    body = enterprise_dossier(5)
    answers: list[httpx.Response] = []

    def send() -> None:
        answers.append(post(live, office, body, **{"Idempotency-Key": "race-5"}))

    senders = [threading.Thread(target=send) for _ in range(2)]
    with writes_held(live.settings.database_url):
        for t in senders:
            t.start()
        # Both found no earlier message with the key and wait for their write.
        deadline = time.monotonic() + 15
        while threads_waiting_for_a_commit() < 2:
            assert time.monotonic() < deadline, "the two sends did not both reach their write"
            time.sleep(0.01)
    for t in senders:
        t.join(30)
    assert sorted(a.status_code for a in answers) == [202, 202], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    assert sorted(a.headers.get("idempotent-replayed", "") for a in answers) == ["", "true"]
    [message] = messages_where(live, idempotency_key="race-5")
    assert message.id == answers[0].json()["id"]
    assert [d.recipient for d in deliveries_of(live, message.id)] == [KHDT, PORTAL]
    assert len(log_of(live, message.id, "message.accepted")) == 1


@contextmanager
def messages_refused(database_url: str, correlation_id: str) -> Iterator[None]:
    """A trigger that makes the database refuse, as a constraint, messages carrying
    ``correlation_id``."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(url.database), timeout=30, isolation_level=None)
        conn.execute(
            "CREATE TRIGGER refuse_test_message BEFORE INSERT ON messages "
            f"WHEN NEW.correlation_id = '{correlation_id}' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
        try:
            yield
        finally:
            conn.execute("DROP TRIGGER refuse_test_message")
            conn.close()
    else:
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as pg:
            pg.execute(
                "CREATE FUNCTION refuse_test_message() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused by the test' USING ERRCODE = "
                "'check_violation'; END $$"
            )
            pg.execute(
                "CREATE TRIGGER refuse_test_message BEFORE INSERT ON messages FOR EACH ROW "
                f"WHEN (NEW.correlation_id = '{correlation_id}') "
                "EXECUTE FUNCTION refuse_test_message()"
            )
            try:
                yield
            finally:
                pg.execute("DROP TRIGGER refuse_test_message ON messages")
                pg.execute("DROP FUNCTION refuse_test_message()")


def test_a_write_the_database_refuses_is_not_answered_as_accepted(live: LivePlatform) -> None:
    office = caller(live, ONE_STOP)
    request = SendRequest.model_validate(
        {**enterprise_dossier(6), "correlation_id": "refused-by-the-database"}
    )
    with messages_refused(live.settings.database_url, "refused-by-the-database"):
        # Without a key there is no earlier answer to give; with one, no message has it.
        for key in (None, "refused-6"):
            with pytest.raises(IntegrityError):
                service.accept(live.platform, office.principal, request, idempotency_key=key)
    assert messages_where(live, correlation_key=dossier_code(6)) == []
    # The same request, once the database takes it, is a new message; its repeat is not.
    new = service.accept(live.platform, office.principal, request, idempotency_key="refused-6")
    assert new.repeated is False and new.recipients == [KHDT, PORTAL]
    again = service.accept(live.platform, office.principal, request, idempotency_key="refused-6")
    assert again.repeated is True and again.recipients == [KHDT, PORTAL]
    assert again.message.id == new.message.id
    assert [m.id for m in messages_where(live, correlation_key=dossier_code(6))] == [new.message.id]


def test_an_invalid_idempotency_key_is_refused_with_the_rule(live: LivePlatform) -> None:
    office = caller(live, ONE_STOP)
    for key in ("two words", "k" * 201, ""):
        r = post(live, office, enterprise_dossier(7), **{"Idempotency-Key": key})
        assert assert_problem(r, 400, "bad-request")["detail"] == KEY_RULE, key
    assert messages_where(live, correlation_key=dossier_code(7)) == []
    longest = post(live, office, enterprise_dossier(7), **{"Idempotency-Key": "k" * 200})
    assert longest.status_code == 202, longest.text


def test_an_unknown_type_is_refused_with_the_known_types(live: LivePlatform) -> None:
    r = post(live, caller(live, ONE_STOP), {"type": "parcel", "payload": {}})
    problem = assert_problem(r, 422, "unknown-message-type")
    types = yaml.safe_load((SAMPLE_CONFIG / "message-types.yaml").read_text(encoding="utf-8"))
    assert problem["known_types"] == sorted(types["message_types"])


def test_routing_rules_see_who_sends(live: LivePlatform) -> None:
    # From the operations centre to the commune where it happened; the result route would send
    # it back to the centre, which never receives its own message.
    r = post(live, caller(live, IOC), field_report("PAHT-ROUTE-1", "25501", resolved=True))
    assert r.status_code == 202, r.text
    assert r.json()["recipients"] == [COMMUNE_A]
    [message] = messages_where(live, correlation_key="PAHT-ROUTE-1")
    assert [d.recipient for d in deliveries_of(live, message.id)] == [COMMUNE_A]


def test_a_message_no_route_takes_is_refused_saying_how_to_send_it(live: LivePlatform) -> None:
    r = post(live, caller(live, IOC), field_report("PAHT-NOWHERE-1", "00688"))
    problem = assert_problem(r, 422, "no-recipient")
    assert problem["detail"] == (
        "no recipient for this 'field-report' message: name one with 'to', or the province's "
        "routing rules must match it"
    )
    assert messages_where(live, correlation_key="PAHT-NOWHERE-1") == []


def test_every_recipient_not_granted_is_named(live: LivePlatform) -> None:
    status = {"type": "dossier-status", "to": KHDT}
    status["payload"] = sample_status(dossier_code(8), 4, datetime(2026, 12, 3, 9, 0))
    problem = assert_problem(post(live, caller(live, TNMT), status), 403, "not-granted")
    # The named department and the portal (the copy route): this department may report to
    # reception points only.
    assert problem["detail"] == (
        f"agency {TNMT} is not granted to send 'dossier-status' to {KHDT}, {PORTAL}"
    )
    assert problem["recipients"] == [KHDT, PORTAL]


def test_the_ordering_key_is_a_non_empty_string_at_the_pointer_else_the_correlation_id(
    live: LivePlatform,
) -> None:
    mtype = live.platform.directory.snapshot().message_type("dossier")
    assert mtype is not None and mtype.correlation_pointer == "/MaHoSo"

    def key(payload: dict[str, Any], correlation_id: str | None = "cid") -> str | None:
        request = SendRequest(type="dossier", payload=payload, correlation_id=correlation_id)
        return service.correlation_key_of(request, mtype)

    assert key({"MaHoSo": "H56-1"}) == "H56-1"
    assert key({"MaHoSo": ""}) == "cid"
    assert key({"MaHoSo": 12}) == "cid"
    assert key({"MaHoSo": ["H56-1"]}) == "cid"
    assert key({"MaHoSo": True}) == "cid"
    assert key({}) == "cid"
    assert key({}, None) is None


# --- reading ----------------------------------------------------------------------------------


def test_the_overall_status_for_each_combination_of_delivery_states(live: LivePlatform) -> None:
    office = caller(live, ONE_STOP)
    r = post(live, office, enterprise_dossier(9))
    assert r.status_code == 202, r.text
    message_id = r.json()["id"]
    cases = [
        (("inbox", "pending"), "in_progress"),
        (("inbox", "retrying"), "in_progress"),
        (("acked", "pending"), "in_progress"),
        (("acked", "retrying"), "in_progress"),
        (("dead", "pending"), "in_progress"),
        (("inbox", "delivered"), "in_progress"),
        (("inbox", "dead"), "in_progress"),
        (("acked", "delivered"), "delivered"),
        (("acked", "acked"), "delivered"),
        (("delivered", "delivered"), "delivered"),
        (("dead", "dead"), "dead"),
        (("acked", "dead"), "partially_dead"),
        (("dead", "delivered"), "partially_dead"),
    ]
    seen = []
    for (khdt, portal), _ in cases:
        with live.platform.sessions() as s, s.begin():
            for recipient, state in ((KHDT, khdt), (PORTAL, portal)):
                s.execute(
                    update(Delivery)
                    .where(Delivery.message_id == message_id, Delivery.recipient == recipient)
                    .values(state=state)
                )
        with live.http() as http:
            view = http.get(f"/v1/messages/{message_id}", headers=office.headers)
        assert view.status_code == 200, view.text
        seen.append(((khdt, portal), view.json()["status"]))
    assert seen == [(states, status) for states, status in cases]
    # A message with no delivery yet (none is ever stored without one) reads as accepted.
    assert service.overall_status([]) == "accepted"


def test_an_auditor_reads_any_message_an_outsider_none(live: LivePlatform) -> None:
    r = post(live, caller(live, ONE_STOP), enterprise_dossier(10))
    assert r.status_code == 202, r.text
    location = f"/v1/messages/{r.json()['id']}"
    with live.http() as http:
        auditor = http.get(location, headers=caller(live, IOC, "audit").headers)
        outsider = http.get(location, headers=caller(live, IOC, "messages:read").headers)
    assert auditor.status_code == 200, auditor.text
    assert auditor.json()["id"] == r.json()["id"] and auditor.json()["sender"] == ONE_STOP
    assert assert_problem(outsider, 404, "not-found")["detail"] == (
        f"no message {r.json()['id']} that this client may read"
    )


def test_the_inbox_is_read_page_by_page_from_a_cursor(live: LivePlatform) -> None:
    ioc, commune = caller(live, IOC), caller(live, COMMUNE_B, "inbox:read")
    ids = []
    for n in range(5):
        r = post(live, ioc, {**field_report(f"PAHT-PAGE-{n}", "25504"), "correlation_id": f"c{n}"})
        assert r.status_code == 202, r.text
        assert r.json()["recipients"] == [COMMUNE_B]
        ids.append(r.json()["id"])
    elsewhere = post(live, ioc, field_report("PAHT-PAGE-A", "25501"))
    assert elsewhere.status_code == 202, elsewhere.text

    def page(**params: Any) -> httpx.Response:
        with live.http() as http:
            return http.get("/v1/inbox", params=params, headers=commune.headers)

    def items(r: httpx.Response) -> tuple[list[str], bool]:
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]], r.json()["more"]

    assert items(page(limit=2)) == (ids[0:2], True)
    assert items(page(limit=2, after=ids[1])) == (ids[2:4], True)
    assert items(page(limit=2, after=ids[3])) == (ids[4:5], False)
    # Exactly a page's worth left: no further page.
    assert items(page(limit=2, after=ids[2])) == (ids[3:5], False)
    assert items(page(limit=5)) == (ids, False)
    assert items(page(limit=4)) == (ids[0:4], True)
    assert items(page(limit=50, after=ids[4])) == ([], False)
    first = page(limit=1).json()["items"][0]
    [stored] = messages_where(live, id=ids[0])
    assert datetime.fromisoformat(first.pop("accepted_at")) == stored.accepted_at
    assert first == {
        "id": ids[0],
        "type": "field-report",
        "sender": IOC,
        "correlation_id": "c0",
        "payload": field_report("PAHT-PAGE-0", "25504")["payload"],
    }
    # A cursor that names no message of this inbox is refused, not read as the end.
    for cursor in (uuid7(), elsewhere.json()["id"]):
        problem = assert_problem(page(limit=2, after=cursor), 404, "not-found")
        assert problem["detail"] == f"'after' names no message of the inbox of {COMMUNE_B}"


def test_an_acknowledgement_is_recorded_once_and_logged_once(live: LivePlatform) -> None:
    commune = caller(live, COMMUNE_A, "inbox:read")
    r = post(live, caller(live, IOC), field_report("PAHT-ACK-1", "25501"))
    assert r.status_code == 202, r.text
    message_id = r.json()["id"]

    def ack(who: Caller, message: str = message_id) -> httpx.Response:
        with live.http() as http:
            return http.post(f"/v1/inbox/{message}/ack", headers=who.headers)

    first = ack(commune)
    assert first.status_code == 200, first.text
    assert first.json() == {"id": message_id, "state": "acked"}
    [delivery] = deliveries_of(live, message_id)
    [entry] = log_of(live, message_id, "inbox.acked")
    assert delivery.state == "acked" and delivery.finished_at is not None
    assert (
        entry.actor,
        entry.agency,
        entry.message_id,
        entry.correlation_key,
        entry.detail,
        entry.at,
    ) == (
        commune.client_id,
        COMMUNE_A,
        message_id,
        "PAHT-ACK-1",
        {"recipient": COMMUNE_A},
        delivery.finished_at,
    )
    # Again: the same answer, nothing changed, nothing logged.
    again = ack(caller(live, COMMUNE_A, "inbox:read"))
    assert again.status_code == 200 and again.json() == {"id": message_id, "state": "acked"}
    assert [(d.state, d.finished_at) for d in deliveries_of(live, message_id)] == [
        ("acked", delivery.finished_at)
    ]
    assert [e.id for e in log_of(live, message_id, "inbox.acked")] == [entry.id]
    # Not in the caller's inbox (its sender's, an unknown message): 404, and no entry.
    unknown = uuid7()
    for who, message in ((caller(live, IOC, "inbox:read"), message_id), (commune, unknown)):
        problem = assert_problem(ack(who, message), 404, "not-found")
        assert problem["detail"] == f"no message {message} in the inbox of {who.agency}"
    assert log_of(live, unknown, "inbox.acked") == []
    assert len(log_of(live, message_id, "inbox.acked")) == 1
