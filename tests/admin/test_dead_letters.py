"""Dead letters end to end, with the embedded workers delivering to a real HTTP recipient: how a
delivery dies, what admins and the sender see, replay through the API and the CLI, and a poison
message that holds nothing up."""

from __future__ import annotations

import getpass
import json

from tests.admin.conftest import RETRY_WINDOW, World
from tests.mediation.province import JUSTICE, SMS_GATEWAY
from tests.support.cli import run_cli
from tests.support.platform import ONE_STOP, PORTAL

DEAD_LETTERS = "/v1/admin/dead-letters"


def kinds(world: World, message_id: str, recipient: str) -> list[str]:
    return [e.kind for e in world.log(message_id, recipient)]


def test_a_rejected_message_is_dead_lettered_with_its_reason(world: World) -> None:
    message_id = world.dossier(1, poison=True)
    world.wait_state(message_id, JUSTICE, "dead")
    world.wait_state(message_id, PORTAL, "delivered")
    assert world.recipient.refused == [("/tuphap", message_id, 422)]  # refused once, not retried

    listing = world.get(DEAD_LETTERS)
    assert listing.status_code == 200, listing.text
    [item] = listing.json()["items"]
    assert item["message_id"] == message_id and item["recipient"] == JUSTICE
    assert item["sender"] == ONE_STOP and item["type"] == "dossier"
    assert item["correlation_key"] == f"{ONE_STOP}-261126-0001"
    assert item["attempts"] == 1 and item["last_status_code"] == 422
    assert "HTTP 422" in item["reason"] and item["dead_at"]
    assert world.get(DEAD_LETTERS, params={"recipient": SMS_GATEWAY}).json() == {"items": []}

    shown = world.get(f"{DEAD_LETTERS}/{item['delivery_id']}")
    assert shown.status_code == 200
    assert shown.json()["payload"]["MaHoSo"] == item["correlation_key"]
    assert shown.json()["reason"] == item["reason"]
    assert world.get(f"{DEAD_LETTERS}/999999").status_code == 404

    # The sender sees which recipient gave up on its message, and why.
    sender = world.live.auth(ONE_STOP)
    view = world.get(f"/v1/messages/{message_id}", headers=sender)
    assert view.status_code == 200, view.text
    states = {r["agency"]: r for r in view.json()["recipients"]}
    assert states[JUSTICE]["state"] == "dead" and states[PORTAL]["state"] == "delivered"
    assert states[JUSTICE]["last_error"] == item["reason"]
    assert states[JUSTICE]["last_status_code"] == 422
    assert view.json()["status"] == "partially_dead"

    # Only admins may look or replay.
    for r in (
        world.get(DEAD_LETTERS, headers=sender),
        world.get(f"{DEAD_LETTERS}/{item['delivery_id']}", headers=sender),
        world.post(f"{DEAD_LETTERS}/replay", {"all": True}, headers=sender),
    ):
        assert r.status_code == 403 and r.json()["type"].endswith("/insufficient-scope")
    assert world.state(message_id, JUSTICE) == "dead"

    assert kinds(world, message_id, JUSTICE) == ["delivery.dead"]
    [entry] = world.log(message_id, JUSTICE)
    assert entry.detail["permanent"] is True and entry.detail["status_code"] == 422
    assert "poison" in entry.detail["reply"]  # the recipient's own words are in the log

    cli = run_cli(world.live.settings, "dead-letters", "list", "--json", check=True)
    assert [d["delivery_id"] for d in json.loads(cli.stdout)] == [item["delivery_id"]]
    cli = run_cli(world.live.settings, "dead-letters", "show", str(item["delivery_id"]), check=True)
    assert json.loads(cli.stdout)["payload"]["MaHoSo"] == item["correlation_key"]


def test_retriable_failures_die_once_the_retry_window_has_passed(world: World) -> None:
    world.recipient.failing = True
    message_id = world.sms(2)
    world.wait_state(message_id, SMS_GATEWAY, "dead", timeout=RETRY_WINDOW + 20)
    delivery = world.delivery(message_id, SMS_GATEWAY)
    assert delivery.attempts >= 2
    assert delivery.last_error is not None
    assert delivery.last_error.startswith(f"retries exhausted after {delivery.attempts} attempts")
    assert "503" in delivery.last_error
    assert len(world.recipient.refused) == delivery.attempts
    assert kinds(world, message_id, SMS_GATEWAY) == ["delivery.failed"] * (
        delivery.attempts - 1
    ) + ["delivery.dead"]
    assert world.log(message_id, SMS_GATEWAY)[-1].detail["permanent"] is False

    [item] = world.get(DEAD_LETTERS).json()["items"]
    assert item["reason"] == delivery.last_error and item["last_status_code"] == 503
    view = world.get(f"/v1/messages/{message_id}", headers=world.live.auth(ONE_STOP)).json()
    assert view["status"] == "dead"
    [recipient] = view["recipients"]
    assert recipient["state"] == "dead" and recipient["last_error"] == delivery.last_error


def test_replay_by_id_message_recipient_all_and_cli_delivers_each_once(world: World) -> None:
    d1, d2, d3, d4 = (world.dossier(key, poison=True) for key in (11, 12, 13, 14))
    s1 = world.sms(15, poison=True)
    for message_id, recipient in [(d, JUSTICE) for d in (d1, d2, d3, d4)] + [(s1, SMS_GATEWAY)]:
        world.wait_state(message_id, recipient, "dead")
    ids = {
        message_id: world.delivery(message_id, recipient).id
        for message_id, recipient in [(d, JUSTICE) for d in (d1, d2, d3, d4)] + [(s1, SMS_GATEWAY)]
    }
    world.recipient.reject_poison = False
    # Paged by delivery id, oldest first.
    first = world.get(DEAD_LETTERS, params={"limit": 2}).json()["items"]
    rest = world.get(DEAD_LETTERS, params={"after": first[-1]["delivery_id"]}).json()["items"]
    assert [i["delivery_id"] for i in first + rest] == sorted(ids.values())

    def dead() -> list[str]:
        return [i["message_id"] for i in world.get(DEAD_LETTERS).json()["items"]]

    replay = f"{DEAD_LETTERS}/replay"
    assert world.post(replay, {}).status_code == 400
    assert world.post(replay, {"delivery_ids": [ids[d1]]}).json() == {"replayed": [ids[d1]]}
    world.wait_state(d1, JUSTICE, "delivered")
    assert sorted(dead()) == sorted([d2, d3, d4, s1])

    cli = run_cli(world.live.settings, "dead-letters", "replay", str(ids[d2]), check=True)
    assert f"[{ids[d2]}]" in cli.stdout
    world.wait_state(d2, JUSTICE, "delivered")

    assert world.post(replay, {"message_ids": [d3]}).json() == {"replayed": [ids[d3]]}
    world.wait_state(d3, JUSTICE, "delivered")

    assert world.post(replay, {"recipient": SMS_GATEWAY}).json() == {"replayed": [ids[s1]]}
    world.wait_state(s1, SMS_GATEWAY, "delivered")
    assert dead() == [d4]

    assert world.post(replay, {"all": True}).json() == {"replayed": [ids[d4]]}
    world.wait_state(d4, JUSTICE, "delivered")
    assert dead() == []
    assert world.post(replay, {"all": True}).json() == {"replayed": []}

    for message_id in (d1, d2, d3, d4):
        assert world.recipient.accepted_ids("/tuphap").count(message_id) == 1
        assert kinds(world, message_id, JUSTICE) == [
            "delivery.dead",
            "delivery.replayed",
            "delivery.delivered",
        ]
    assert world.recipient.accepted_ids("/sms") == [s1]
    assert kinds(world, s1, SMS_GATEWAY) == [
        "delivery.dead",
        "delivery.replayed",
        "delivery.delivered",
    ]
    actors = {m: world.log(m, JUSTICE)[1].actor for m in (d1, d2)}
    # The CLI records the OS user that ran it; the API the admin client.
    assert actors[d2] == getpass.getuser() and actors[d1] and actors[d1] != actors[d2]
    replayed = world.log(d1, JUSTICE)[1]
    assert "HTTP 422" in replayed.detail["previous_error"]
    view = world.get(f"/v1/messages/{d1}", headers=world.live.auth(ONE_STOP)).json()
    assert view["status"] == "delivered"


def test_a_poison_message_holds_up_nothing(world: World) -> None:
    # Dossier 21's first message is poison; its next message and another dossier's must pass.
    poison = world.dossier(21, poison=True)
    same_key = world.dossier(21)
    other_key = world.dossier(22)
    for message_id in (same_key, other_key):
        world.wait_state(message_id, JUSTICE, "delivered")
    assert world.state(poison, JUSTICE) == "dead"
    assert sorted(world.recipient.accepted_ids("/tuphap")) == sorted([same_key, other_key])
    # The same dossier's next message went only after the poison one was dead: order kept.
    dead_at = world.log(poison, JUSTICE)[-1]
    delivered = world.log(same_key, JUSTICE)[-1]
    assert dead_at.kind == "delivery.dead" and delivered.kind == "delivery.delivered"
    assert dead_at.id < delivered.id

    # Later messages of the dead one's dossier are not held back either.
    later = [world.dossier(21) for _ in range(3)]
    for message_id in later:
        world.wait_state(message_id, JUSTICE, "delivered")
    assert world.recipient.accepted_ids("/tuphap")[-3:] == later
    assert [i["message_id"] for i in world.get(DEAD_LETTERS).json()["items"]] == [poison]
