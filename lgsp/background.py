"""Background services a process runs beside (or instead of) the API: delivery and sealing."""

from __future__ import annotations

import logging
from typing import Any

from lgsp.platform import Platform

log = logging.getLogger("lgsp")


def start_delivery(platform: Platform, *, relay: bool = True, consume: bool = True) -> None:
    from lgsp.relay.transport import DeliveryService

    service = DeliveryService(platform, relay=relay, consume=consume)
    service.start()
    platform.background.append(service)
    log.info("delivery started (transport %s)", platform.settings.transport)


def start_sealer(platform: Platform) -> None:
    from lgsp.messagelog.sealer import Sealer

    sealer = Sealer(
        platform.sessions,
        platform.seal_keys.sign_compact,
        interval=platform.settings.seal_interval_seconds,
        max_entries=platform.settings.seal_max_entries,
    )
    sealer.start()
    platform.background.append(sealer)


def start_presence(platform: Platform, kind: str) -> None:
    """Report this process (what adapters it can load) until it stops; see lgsp.processes."""
    from importlib.metadata import PackageNotFoundError, version

    from lgsp.processes.presence import Presence

    try:
        release = version("lgsp")
    except PackageNotFoundError:  # running from a source tree that is not installed
        release = "unknown"
    from lgsp.observability import ADAPTERS_UNBUILDABLE

    def describe() -> dict[str, Any]:
        described = platform.adapters.describe()
        ADAPTERS_UNBUILDABLE.set(len(described["unbuildable"]))
        return described

    presence = Presence(
        platform.sessions,
        kind=kind,
        version=release,
        describe=describe,
        interval=platform.settings.heartbeat_seconds,
    )
    presence.start()
    platform.background.append(presence)
