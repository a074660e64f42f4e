"""Provider quirks live with the adapters: the SMS gateways' phone spelling."""

from __future__ import annotations

import pytest
from lgsp_adapters.transforms import phone_to_gateway


@pytest.mark.parametrize("phone", ["0912345678", "+84912345678", "84912345678"])
def test_phone_to_gateway(phone: str) -> None:
    assert phone_to_gateway(phone) == "84912345678"


@pytest.mark.parametrize("bad", ["12345", "0012345678", "+8491234567", ""])
def test_phone_to_gateway_rejects_bad_numbers(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Vietnamese phone number"):
        phone_to_gateway(bad)
