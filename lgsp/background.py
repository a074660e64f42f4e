"""Background services a process runs beside (or instead of) the API: delivery and sealing."""

from __future__ import annotations

import logging

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
