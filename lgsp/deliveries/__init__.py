"""Deliveries: one row per recipient of an accepted message, and the only code that writes it.

The row is the outbox (the relay publishes or leases it), the retry schedule, the inbox of a pull
recipient, and a dead letter once given up. Its states and the named transitions between them
live here (models.py, service.py); every other domain reads rows through repository.py or asks
service.py to move them.
"""
