"""Captures reach the message log in one shape, with no NUL (PostgreSQL's JSON refuses it)."""

from __future__ import annotations

from lgsp_adapters.base import Capture, storable, truncate

UTF16_REPLY = "<a/>".encode("utf-16").decode("utf-8", errors="replace")


def test_a_capture_is_logged_without_nul() -> None:
    assert "\x00" in UTF16_REPLY
    logged = Capture("response", "text/xml", UTF16_REPLY).to_log()
    assert logged == {
        "direction": "response",
        "content_type": "text/xml",
        "body": UTF16_REPLY.replace("\x00", "\ufffd"),
    }
    assert Capture("request", "text/xml", None).to_log()["body"] is None


def test_truncated_replies_and_errors_are_storable_too() -> None:
    assert "\x00" not in (truncate(UTF16_REPLY.encode()) or "")
    assert storable("a\x00b") == "a\ufffdb"
    assert storable(None) is None and storable("") == ""
