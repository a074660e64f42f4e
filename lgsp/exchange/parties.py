"""Dossier parties: who may act on a dossier.

A grant says which message types an agency may send to whom; it says nothing about *which*
dossier. Without more, any agency granted ``dossier-status`` could move any dossier on the
national portal (the portal adapter acts on whatever dossier code the payload carries, with the
province's account), and a foreign dossier code would join that dossier's delivery chain.

So each dossier keeps its parties: the receiving office (the agency that sent the message that
opened it) and its processing recipients (the agencies that message was routed to). The
message-type configuration says which types are dossier-related and where the dossier code sits
(``dossier: opens | acts`` next to ``correlation_pointer``):

- ``opens`` (a dossier, a land intake): the first such message for a code records its sender as
  the receiving office and its recipients as processing recipients; later ones (updates) must
  come from a party and add any new recipients.
- ``acts`` (a status, a certificate): accepted only from one of the dossier's parties. A dossier
  the platform never saw opened has no parties, so acting on it is refused too.

A refusal is a ``403 not-a-party`` problem and a ``message.refused`` entry in the message log;
nothing else is written. Parties are written in the same transaction as the accepted message
that made them parties (:meth:`Binding.rows`).

Dossiers opened before this table existed get their parties from the log of what was accepted
(the opening messages and their deliveries) the first time they are needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from lgsp.auth.tokens import Principal
from lgsp.directory.repository import MessageTypeInfo
from lgsp.exchange.models import Delivery, Message
from lgsp.kit.db import Base, UTCDateTime
from lgsp.kit.errors import Forbidden
from lgsp.kit.groupcommit import Rows
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog.models import LogEntry
from lgsp.messagelog.service import entry_values
from lgsp.platform import Platform

RECEIVER = "receiver"  # the office that received the dossier and sent it on
RECIPIENT = "recipient"  # an office the dossier was sent to for processing


class NotAParty(Forbidden):
    slug, title = "not-a-party", "Not a party to the dossier"


class DossierParty(Base):
    """One agency's part in one dossier. Rows are only added; a party may appear twice when two
    messages opening the same dossier raced (harmless: membership is what counts)."""

    __tablename__ = "dossier_parties"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dossier_code: Mapped[str] = mapped_column(String(200), index=True)
    agency: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    # The accepted message that made the agency a party (for the record).
    message_id: Mapped[str | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Binding:
    """What accepting the message adds to the dossier's parties."""

    dossier_code: str | None = None
    new_parties: tuple[tuple[str, str], ...] = field(default=())  # (agency, role)

    def rows(self, message_id: str, at: datetime) -> Rows:
        return [
            (
                DossierParty,
                {
                    "dossier_code": self.dossier_code,
                    "agency": agency,
                    "role": role,
                    "message_id": message_id,
                    "added_at": at,
                },
            )
            for agency, role in self.new_parties
        ]


def dossier_code(mtype: MessageTypeInfo, payload: Any) -> str | None:
    """The dossier code a dossier-related message is about (None for other types)."""
    if mtype.dossier_role is None or not mtype.correlation_pointer:
        return None
    node = payload
    for raw in mtype.correlation_pointer.lstrip("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node if isinstance(node, str) and node else None


def parties_of(
    session: Session, code: str, opening_types: Sequence[str]
) -> tuple[dict[str, set[str]], bool]:
    """agency -> roles in the dossier ``code``, and whether they are stored. When none are
    stored (a dossier opened before parties were kept) they come from the accepted history:
    the senders of its opening messages and those messages' recipients."""
    found: dict[str, set[str]] = {}
    for agency, role in session.execute(
        select(DossierParty.agency, DossierParty.role).where(DossierParty.dossier_code == code)
    ):
        found.setdefault(agency, set()).add(role)
    if found or not opening_types:
        return found, bool(found)
    openings = session.execute(
        select(Message.id, Message.sender).where(
            Message.correlation_key == code, Message.type.in_(list(opening_types))
        )
    ).all()
    for message_id, sender in openings:
        found.setdefault(sender, set()).add(RECEIVER)
        for recipient in session.scalars(
            select(Delivery.recipient).where(Delivery.message_id == message_id)
        ):
            found.setdefault(recipient, set()).add(RECIPIENT)
    return found, False


def bind(
    platform: Platform,
    principal: Principal,
    mtype: MessageTypeInfo,
    recipients: Sequence[str],
    payload: Any,
    *,
    types: Mapping[str, MessageTypeInfo],
) -> Binding:
    """Check that the caller's agency may send this message about its dossier, and say which
    parties accepting it adds. Raise :class:`NotAParty` (after logging the refusal) if not.
    ``types`` is the directory's message types (which of them open dossiers)."""
    code = dossier_code(mtype, payload)
    if code is None:
        return Binding()
    sender, actor = principal.agency, principal.client_id
    opening_types = sorted(t.name for t in types.values() if t.dossier_role == "opens")
    with platform.sessions() as session:
        known, stored = parties_of(session, code, opening_types)
    if (known and sender not in known) or (not known and mtype.dossier_role == "acts"):
        _refuse(platform, mtype=mtype, code=code, sender=sender, actor=actor)
    # Parties found in the history are stored with this message, to be looked up from now on.
    new = [] if stored else [(a, role) for a, roles in known.items() for role in sorted(roles)]
    if mtype.dossier_role == "opens":
        if not known:
            new.append((sender, RECEIVER))
        new += [(r, RECIPIENT) for r in recipients if r not in known and r != sender]
    return Binding(code, tuple(new))


def _refuse(
    platform: Platform, *, mtype: MessageTypeInfo, code: str, sender: str, actor: str
) -> None:
    # The refusal is evidence: logged (and committed) before the caller is answered. The detail
    # does not say who the parties are, nor whether the dossier exists.
    platform.writer.write(
        [
            (
                LogEntry,
                entry_values(
                    "message.refused",
                    actor=actor,
                    agency=sender,
                    correlation_key=code,
                    detail={"type": mtype.name, "reason": NotAParty.slug, "dossier": code},
                    at=utcnow(),
                ),
            )
        ]
    )
    raise NotAParty(
        f"agency {sender} is not a party to dossier {code!r}: only the office that received it "
        f"and the offices it was sent to for processing may send a {mtype.name!r} about it"
    )
