"""What an adapter failure keeps for the message log: the reply, decoded leniently, without NUL
characters (PostgreSQL text and JSON columns refuse them), cut at the capture limit with the size
of what was cut; and the raw exchanges it carries."""

from __future__ import annotations

from lgsp_adapters.base import REPLY_CAPTURE_LIMIT, AdapterError, Capture, truncate


def test_a_reply_is_decoded_leniently_and_freed_of_nul() -> None:
    assert truncate(b"\xff\xfeok \xc3\xa9") == "\ufffd\ufffdok é"
    assert truncate("a\x00b") == "a\ufffdb"
    assert truncate("o\x00k".encode("utf-16-le")) == "o\ufffd\ufffd\ufffdk\ufffd"
    assert truncate(None) is None


def test_an_empty_reply_is_captured_as_empty_text_and_no_reply_as_none() -> None:
    assert truncate(b"") == ""
    assert truncate("") == ""
    assert truncate(None) is None


def test_a_reply_is_cut_at_the_limit_and_says_how_much_was_cut() -> None:
    assert truncate("abcd", limit=4) == "abcd"
    assert truncate("abcdef", limit=4) == "abcd... [2 more chars]"
    assert truncate("x" * REPLY_CAPTURE_LIMIT) == "x" * REPLY_CAPTURE_LIMIT
    longer = truncate("y" * (REPLY_CAPTURE_LIMIT + 10))
    assert longer == "y" * REPLY_CAPTURE_LIMIT + "... [10 more chars]"


def test_an_adapter_error_keeps_its_captures_and_a_cut_reply() -> None:
    envelope = Capture("response", "text/xml", "<Fault/>")
    error = AdapterError("refused", status_code=500, reply="z" * 5000, captures=[envelope])
    assert error.captures == [envelope]
    assert error.reply == "z" * REPLY_CAPTURE_LIMIT + "... [904 more chars]"
    bare = AdapterError("no answer")
    assert bare.captures == [] and bare.reply is None and bare.status_code is None
