"""`lgsp demo`: walk one dossier through a running platform, from submission to result.

The one-stop office submits a land dossier; the platform routes it to the Department of Natural
Resources and Environment and copies it to the national portal; the department reports statuses
2, 4, 9 and 10 back to the office, each copied to the portal. The demo checks every delivery and
finally the portal simulator's view of the dossier, and exits non-zero if any step did not
complete.

The sample dossier and status updates come from the ``lgsp.demo`` entry-point group (entries
``dossier`` and ``status``, registered by the lgsp-sims distribution); the platform's and the
portal simulator's addresses from the settings and from ``<var_dir>/simulators.json``, which
`lgsp dev` writes, so the demo follows ``LGSP_PORT`` and ``LGSP_VAR_DIR``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import httpx
import typer
from rich.console import Console
from rich.table import Table

from lgsp.settings import Settings, get_settings

VN = ZoneInfo("Asia/Ho_Chi_Minh")
ONE_STOP = "000.00.01.H56"
DEPARTMENT = "000.00.12.H56"
PORTAL = "000.00.00.G22"
STATUSES = [2, 4, 9, 10]
FINAL = {"delivered", "acked", "dead"}
SAMPLES_GROUP = "lgsp.demo"
PORTAL_SIMULATOR = "dvcqg"

console = Console()


class DemoFailed(Exception):
    pass


def _credentials(path: Path, client_id: str) -> tuple[str, str]:
    if not path.exists():
        raise DemoFailed(
            f"{path} not found: start the platform with `make run` first, or pass "
            "--office-client/--department-client as id:secret"
        )
    entry = json.loads(path.read_text())[client_id]
    return entry["client_id"], entry["client_secret"]


def _samples() -> tuple[Callable[..., dict[str, Any]], Callable[..., dict[str, Any]]]:
    """The sample dossier and status-update makers registered in ``lgsp.demo``."""
    found = {point.name: point for point in entry_points(group=SAMPLES_GROUP)}
    missing = {"dossier", "status"} - set(found)
    if missing:
        raise DemoFailed(
            f"no demo samples installed ({SAMPLES_GROUP} lacks {', '.join(sorted(missing))}): "
            "install the simulators (pip install -e adapters/sims, done by `make install`)"
        )
    return found["dossier"].load(), found["status"].load()


def _platform_url(s: Settings) -> str:
    host = "127.0.0.1" if s.host in ("0.0.0.0", "::") else s.host  # noqa: S104 - not binding
    return f"http://{host}:{s.port}"


def _portal_simulator_url(s: Settings) -> str:
    from lgsp.devsetup import SIMULATOR_URLS

    path = s.var_dir / SIMULATOR_URLS
    try:
        url: str = json.loads(path.read_text())[PORTAL_SIMULATOR]
    except (OSError, ValueError, KeyError):
        raise DemoFailed(
            f"the portal simulator's address is not in {path}: start the platform with "
            "`make run` first, or pass --portal-sim"
        ) from None
    return url


def _token(http: httpx.Client, client: tuple[str, str]) -> str:
    r = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=client)
    if r.status_code != 200:
        raise DemoFailed(f"token for {client[0]} refused: {r.status_code} {r.text}")
    token: str = r.json()["access_token"]
    return token


def _send(http: httpx.Client, token: str, body: dict[str, Any]) -> dict[str, Any]:
    r = http.post(
        "/v1/messages",
        json=body,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": secrets.token_hex(12)},
    )
    if r.status_code != 202:
        raise DemoFailed(f"{body['type']} refused: {r.status_code} {r.text}")
    accepted: dict[str, Any] = r.json()
    return accepted


def _await_delivery(
    http: httpx.Client, token: str, message_id: str, timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = http.get(f"/v1/messages/{message_id}", headers={"Authorization": f"Bearer {token}"})
        if r.status_code != 200:
            raise DemoFailed(f"cannot read message {message_id}: {r.status_code} {r.text}")
        view = r.json()
        if all(x["state"] in FINAL for x in view["recipients"]):
            dead = [x for x in view["recipients"] if x["state"] == "dead"]
            if dead:
                raise DemoFailed(
                    f"message {message_id} dead-lettered at "
                    f"{dead[0]['agency']}: {dead[0]['last_error']}"
                )
            return view
        time.sleep(0.2)
    states = ", ".join(f"{x['agency']}={x['state']}" for x in view.get("recipients", []))
    raise DemoFailed(f"message {message_id} not delivered within {timeout:.0f} s ({states})")


def demo(
    url: Annotated[
        str | None, typer.Option(help="the platform's base URL [default: from LGSP_HOST/PORT]")
    ] = None,
    portal_sim: Annotated[
        str | None,
        typer.Option(help="the portal simulator's base URL [default: as `lgsp dev` started it]"),
    ] = None,
    clients_file: Annotated[
        Path | None,
        typer.Option(help="demo client secrets from `lgsp dev` [default: in LGSP_VAR_DIR]"),
    ] = None,
    office_client: Annotated[str | None, typer.Option(help="id:secret of the office")] = None,
    department_client: Annotated[
        str | None, typer.Option(help="id:secret of the department")
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for each delivery")] = 60.0,
) -> None:
    """Walk a dossier from submission to result through a running platform."""
    try:
        s = get_settings()
        _run(
            url or _platform_url(s),
            portal_sim or _portal_simulator_url(s),
            clients_file or s.var_dir / "demo-clients.json",
            office_client,
            department_client,
            timeout,
        )
    except (DemoFailed, httpx.HTTPError) as exc:
        console.print(f"[bold red]demo failed:[/bold red] {exc}")
        raise typer.Exit(1) from None


def _pair(value: str | None, path: Path, default_id: str) -> tuple[str, str]:
    if value:
        client_id, _, secret = value.partition(":")
        return client_id, secret
    return _credentials(path, default_id)


def _run(
    url: str,
    portal_sim: str,
    clients_file: Path,
    office_client: str | None,
    department_client: str | None,
    timeout: float,
) -> None:
    sample_dossier, sample_status = _samples()
    office = _pair(office_client, clients_file, f"demo-{ONE_STOP}")
    department = _pair(department_client, clients_file, f"demo-{DEPARTMENT}")
    now = datetime.now(VN)
    ma_ho_so = f"{ONE_STOP}-{now:%y%m%d}-{secrets.randbelow(9000) + 1000:04d}"
    steps: list[tuple[str, str, str]] = []
    with httpx.Client(base_url=url, timeout=30) as http:
        office_token = _token(http, office)
        department_token = _token(http, department)
        console.print(f"[bold]Dossier {ma_ho_so}[/bold] (land procedure 1.004227) at {url}")

        dossier = sample_dossier(ma_ho_so, "1.004227")
        dossier.update(
            TrangThaiHoSo="1",
            NgayNopHoSo=f"{now:%Y%m%d%H%M%S}",
            NgayTiepNhan=f"{now:%Y%m%d%H%M%S}",
            NgayHenTra=f"{now + timedelta(days=10):%Y%m%d}170000",
        )
        with console.status("office submits the dossier (status 1)..."):
            sent = _send(http, office_token, {"type": "dossier", "payload": dossier})
            view = _await_delivery(http, office_token, sent["id"], timeout)
        where = ", ".join(f"{x['agency']} ({x['state']})" for x in view["recipients"])
        console.print(f"  [green]✓[/green] dossier {sent['id']} delivered to {where}")
        steps.append(("dossier 1", sent["id"], where))

        for i, status in enumerate(STATUSES, start=1):
            at = now + timedelta(minutes=i)
            update = sample_status(ma_ho_so, status, at)
            with console.status(f"department reports status {status}..."):
                sent = _send(
                    http,
                    department_token,
                    {"type": "dossier-status", "to": ONE_STOP, "payload": update},
                )
                view = _await_delivery(http, department_token, sent["id"], timeout)
            where = ", ".join(f"{x['agency']} ({x['state']})" for x in view["recipients"])
            console.print(f"  [green]✓[/green] status {status} {sent['id']} delivered to {where}")
            steps.append((f"status {status}", sent["id"], where))

    with httpx.Client(base_url=portal_sim, timeout=10) as sim:
        r = sim.get(f"/_sim/dossiers/{ma_ho_so}")
        if r.status_code != 200:
            raise DemoFailed(f"the portal simulator does not have {ma_ho_so}: {r.status_code}")
        portal = r.json()
    history = portal.get("history") or portal.get("QuaTrinhXuLy") or []
    final = str(portal.get("TrangThaiHoSo") or portal.get("dossier", {}).get("TrangThaiHoSo"))
    seen = [str(h.get("TrangThai")) for h in history]
    if final != "10" or seen[-len(STATUSES) :] != [str(s) for s in STATUSES]:
        raise DemoFailed(f"the portal shows status {final} with history {seen}")

    table = Table(title="What happened", show_lines=False)
    for col in ("step", "message id", "delivered to"):
        table.add_column(col)
    for row in steps:
        table.add_row(*row)
    console.print(table)
    console.print(
        f"[bold green]The portal shows {ma_ho_so} at status 10 with history "
        f"{' → '.join(seen)}.[/bold green]"
    )
    console.print(
        f"Look: {portal_sim}/_sim/dossiers/{ma_ho_so} (portal simulator), "
        f"{url}/v1/messages/<id> (with a token), `lgsp log show --correlation "
        f"{ma_ho_so}`, `lgsp log verify`."
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
