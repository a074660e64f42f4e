"""Value transforms adapters apply on the way to a provider: agency quirks, not platform rules.

The platform validates the shared formats (``lgsp.validation.formats``); how a particular
provider wants a value written is the business of the adapter that talks to it.
"""

from __future__ import annotations

from lgsp.validation.formats import is_vn_phone


def phone_to_gateway(value: str) -> str:
    """The ``84...`` form SMS brandname gateways want, from any accepted ``vn-phone`` spelling
    (``0912345678``, ``+84912345678``, ``84912345678``)."""
    if not is_vn_phone(value):
        raise ValueError(f"not a Vietnamese phone number: {value!r}")
    return "84" + value[-9:]
