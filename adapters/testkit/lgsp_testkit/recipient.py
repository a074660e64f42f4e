"""The bookkeeping of a fake recipient, for the contract suite: scripted outcomes and receipts.

A fake recipient is a small server speaking the recipient system's wire format (any framework;
serve it with :func:`lgsp_testkit.serve_asgi` or :func:`lgsp_testkit.serve_wsgi`, both of which
handle concurrent requests). Its request handler asks :meth:`ScriptedRecipient.next_outcome`
what to do with the request, answers accordingly in the wire format, and calls
:meth:`ScriptedRecipient.accept` with the message's key when it takes the message::

    fake = ScriptedRecipient()

    async def app(scope, receive, send):           # or a WSGI app, a zeep-free SOAP handler...
        outcome = fake.next_outcome()
        if outcome.kind == "fail":    -> answer "unavailable" (HTTP 503, a SOAP Server fault)
        if outcome.kind == "reject":  -> answer "bad content" (HTTP 422, a SOAP Client fault)
        if outcome.kind == "stall":   -> await asyncio.sleep(outcome.seconds), then go on
        fake.accept(message_id_from_the_request)   # False: a duplicate, answer as before

The test class returns ``fake`` from its ``recipient`` fixture: it implements the contract's
:class:`lgsp_testkit.contract.Recipient` protocol. Everything here is thread-safe.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal

OutcomeKind = Literal["accept", "fail", "reject", "stall"]


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    seconds: float = 0.0  # for "stall": how long to hold the answer before going on


ACCEPT = Outcome("accept")


class ScriptedRecipient:
    """Scripted outcomes for the next requests, and the keys of the messages taken."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[Outcome] = deque()
        self._received: dict[str, int] = {}  # key -> times received, in first-seen order

    # -- the contract's Recipient protocol (called by the test) ------------------------------
    def received_ids(self) -> list[str]:
        with self._lock:
            return list(self._received)

    def fail_next(self, times: int = 1) -> None:
        self._push(Outcome("fail"), times)

    def reject_next(self, times: int = 1) -> None:
        self._push(Outcome("reject"), times)

    def stall_next(self, seconds: float) -> None:
        self._push(Outcome("stall", seconds), 1)

    # -- for the fake's request handler ------------------------------------------------------
    def next_outcome(self) -> Outcome:
        """What to do with the request being handled (each scripted outcome is used once)."""
        with self._lock:
            return self._script.popleft() if self._script else ACCEPT

    def accept(self, key: str) -> bool:
        """Record that the message ``key`` was taken; False when it had been taken before."""
        with self._lock:
            seen = key in self._received
            self._received[key] = self._received.get(key, 0) + 1
            return not seen

    def times_received(self, key: str) -> int:
        with self._lock:
            return self._received.get(key, 0)

    def clear(self) -> None:
        with self._lock:
            self._script.clear()
            self._received.clear()

    def _push(self, outcome: Outcome, times: int) -> None:
        with self._lock:
            self._script.extend([outcome] * times)
