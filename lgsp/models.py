"""Every model, imported in one place so metadata (and Alembic) sees the whole schema."""

from lgsp.auth.models import OAuthClient, RevokedToken, SigningKey
from lgsp.deliveries.models import Delivery, DeliveryState
from lgsp.directory.models import Agency, Endpoint, Grant, MessageType, Route, Service
from lgsp.exchange.models import Message
from lgsp.exchange.parties import DossierParty
from lgsp.kit.db import Base
from lgsp.messagelog.models import LogBatch, LogEntry
from lgsp.processes.models import PlatformProcess

__all__ = [
    "Agency",
    "Base",
    "Delivery",
    "DeliveryState",
    "DossierParty",
    "Endpoint",
    "Grant",
    "LogBatch",
    "LogEntry",
    "Message",
    "MessageType",
    "OAuthClient",
    "PlatformProcess",
    "RevokedToken",
    "Route",
    "Service",
    "SigningKey",
]
