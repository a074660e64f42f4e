"""Plumbing shared by the domains: database, errors, identifiers, JSON, time."""
