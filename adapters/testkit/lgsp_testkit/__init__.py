"""Test servers shared by the adapter tests, the end-to-end tests and the simulators.

Everything here listens on 127.0.0.1 only.
"""

from lgsp_testkit.servers import free_port, serve_asgi, serve_wsgi

__all__ = ["free_port", "serve_asgi", "serve_wsgi"]
