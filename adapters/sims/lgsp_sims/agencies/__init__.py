"""Simulated agency systems of the sample province (H56): the one-stop office's REST system and
the processing department's SOAP service. They receive what the platform relays and let tests
see what arrived, how often, and make the systems fail on demand."""
