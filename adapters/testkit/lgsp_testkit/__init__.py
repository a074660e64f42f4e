"""The LGSP adapter test kit: the contract suite every adapter must pass (``contract``), the
bookkeeping of a fake recipient (``recipient``) and loopback servers to serve one (``servers``),
plus the REST and SOAP test recipients the built-in adapters are tested against.

Everything here listens on 127.0.0.1 only. Installing the kit registers its pytest plugin, which
rewrites the contract's assertions. See docs/adapters.md, "Writing a plug-in".
"""

from lgsp_testkit.recipient import Outcome, ScriptedRecipient
from lgsp_testkit.servers import free_port, serve_asgi, serve_wsgi

__all__ = ["Outcome", "ScriptedRecipient", "free_port", "serve_asgi", "serve_wsgi"]
