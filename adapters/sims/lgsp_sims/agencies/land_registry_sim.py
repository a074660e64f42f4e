"""The land registration office's SOAP service (ReceiveDossier, LookupCertificate) as a
simulator for `lgsp dev`: the same service the tests use, served at the root path so its WSDL is
at ``/?wsdl``."""

from __future__ import annotations

from typing import Any

from lgsp_testkit.soap_service import LandRegistryService


def create_app() -> Any:
    return LandRegistryService().asgi_app("/")
