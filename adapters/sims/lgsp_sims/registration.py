"""The simulators this distribution registers with ``lgsp dev``.

Each simulator is named in the ``lgsp.simulators`` entry-point group (adapters/sims/
pyproject.toml) by one :class:`Simulator` below. ``lgsp dev`` loads the group, serves every
simulator on the platform's port plus its ``port_offset`` (so ``LGSP_PORT`` moves the whole set),
and sets each variable of ``environment`` to the address the sample province's configuration
reads it from, unless the variable is already set.

    name           offset  port*  what                                app
    dvcqg          101     8181   national public service portal      lgsp_sims.dvcqg.simulator
    onestop        102     8182   one-stop office (REST)              lgsp_sims.agencies.onestop_sim
    land-registry  103     8183   land registration office (SOAP)     ...land_registry_sim
    justice        104     8184   Department of Justice (REST)        ...onestop_sim
    ioc            105     8185   operations centre (REST)            ...onestop_sim
    vnpost         106     8186   postal service (REST)               ...onestop_sim
    sms            107     8187   SMS gateway (REST)                  ...onestop_sim
    paygov         108     8188   payment platform (REST)             ...onestop_sim
    department     109     8189   processing department (SOAP)        ...department_sim

    * with the default LGSP_PORT=8080

Justice, the IOC, VNPost, the SMS gateway and PayGov are served by the generic REST receiver
until they have simulators speaking their own wire formats. Another distribution adds a
simulator the same way: a :class:`Simulator` (or any object with ``port_offset``,
``environment`` and ``create_app()``) named in its own ``lgsp.simulators`` group.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Simulator:
    app: str  # "module:factory"; the factory takes no argument and returns an ASGI app
    port_offset: int  # from the platform's port (LGSP_PORT)
    description: str
    # Environment variable -> what follows the simulator's base URL in its value.
    environment: Mapping[str, str] = field(default_factory=dict)

    def create_app(self) -> Any:
        module_name, _, factory = self.app.partition(":")
        return getattr(importlib.import_module(module_name), factory)()


_REST = "lgsp_sims.agencies.onestop_sim:create_app"

DVCQG = Simulator(
    "lgsp_sims.dvcqg.simulator:create_app",
    101,
    "national public service portal",
    {"LGSP_DVCQG_URL": ""},
)
ONESTOP = Simulator(_REST, 102, "one-stop office (REST)", {"LGSP_MOTCUA_URL": ""})
LAND_REGISTRY = Simulator(
    "lgsp_sims.agencies.land_registry_sim:create_app",
    103,
    "land registration office (SOAP)",
    {"LGSP_LAND_WSDL": "/?wsdl"},
)
JUSTICE = Simulator(_REST, 104, "Department of Justice (REST)", {"LGSP_TUPHAP_URL": ""})
IOC = Simulator(_REST, 105, "operations centre (REST)", {"LGSP_IOC_URL": ""})
VNPOST = Simulator(_REST, 106, "postal service (REST)", {"LGSP_VNPOST_URL": ""})
SMS = Simulator(_REST, 107, "SMS gateway (REST)", {"LGSP_SMS_URL": ""})
PAYGOV = Simulator(_REST, 108, "payment platform (REST)", {"LGSP_PAYGOV_URL": ""})
DEPARTMENT = Simulator(
    "lgsp_sims.agencies.department_sim:create_app",
    109,
    "processing department (SOAP)",
    {"LGSP_TNMT_WSDL": "/?wsdl"},
)
