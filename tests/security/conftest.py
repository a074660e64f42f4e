"""The attack classes of the platform's threat model (docs/security.md), one module each.

Every test makes the attack and asserts both the refusal and that nothing changed: no message
stored, no delivery, no log entry beyond the refusal, the simulated systems' state unchanged.
"""

from __future__ import annotations

from tests.admin.conftest import world  # noqa: F401 - a platform with a real recipient
from tests.e2e.conftest import flow  # noqa: F401 - the end-to-end fixture, reused here
