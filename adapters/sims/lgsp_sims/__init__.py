"""Simulated agency systems of the sample province, for development and tests only."""
