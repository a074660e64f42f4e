"""`lgsp serve`, `lgsp worker` and `lgsp dev`: run the platform."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer
import uvicorn

from lgsp.cli.common import settings
from lgsp.kit.errors import SettingsError

log = logging.getLogger("lgsp")


def _logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[int, typer.Option(help="API processes (amqp transport only)")] = 1,
    migrate: Annotated[bool, typer.Option(help="apply database migrations first")] = True,
    log_level: Annotated[str, typer.Option()] = "info",
) -> None:
    """Run the API. With the embedded transport, relay and delivery workers run in-process."""
    from lgsp.kit import migrate as migrations

    _logging(log_level)
    s = settings()
    if migrate:
        migrations.upgrade(s.database_url)
    if workers > 1 and s.run_workers_inprocess:
        raise SettingsError("several API processes need the amqp transport (LGSP_BROKER_URL)")
    uvicorn.run(
        "lgsp.app:create_app",
        factory=True,
        host=host or s.host,
        port=port or s.port,
        workers=workers,
        log_level=log_level,
        proxy_headers=True,
        access_log=False,
    )


def worker(
    relay: Annotated[bool, typer.Option(help="also relay the outbox to the broker")] = True,
    log_level: Annotated[str, typer.Option()] = "info",
) -> None:
    """Run delivery workers (and the outbox relay) without the API: the amqp deployment."""
    from lgsp.background import start_delivery, start_presence, start_sealer
    from lgsp.platform import Platform

    _logging(log_level)
    platform = Platform.build(settings())
    platform.start()
    start_delivery(platform, relay=relay, consume=True)
    start_sealer(platform)
    start_presence(platform, "worker")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("worker running; SIGTERM or Ctrl-C drains in-flight deliveries and stops")
    stop.wait()
    log.info("draining")
    platform.close()


def dev(
    port: Annotated[int | None, typer.Option(help="API port")] = None,
    simulators: Annotated[bool, typer.Option(help="start the sample province's simulators")] = True,
) -> None:
    """The whole platform on one machine: migrate, apply the sample province, create demo
    clients, start the simulators and serve (what `make run` does)."""
    import os

    from lgsp.devsetup import prepare
    from lgsp.settings import get_settings

    _logging("info")
    if port is not None:
        # As LGSP_PORT: the simulators, the issuer and the app served below all follow it.
        os.environ["LGSP_PORT"] = str(port)
        get_settings.cache_clear()
    s = settings()
    handle = prepare(s, simulators=simulators)
    try:
        serve(host=None, port=None, workers=1, migrate=False, log_level="info")
    finally:
        if handle is not None:
            handle.stop()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("worker")(worker)
    app.command("dev")(dev)
