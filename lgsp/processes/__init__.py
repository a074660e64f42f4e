"""The platform's running processes, as they report themselves: what each can load.

Every API and worker process keeps a row in ``platform_processes`` fresh (a heartbeat) with the
adapters it can load and the endpoints whose adapter it failed to build. ``config apply`` reads
the live rows to warn before a configuration names an adapter a running process cannot load;
``lgsp status`` shows them to an operator.
"""
