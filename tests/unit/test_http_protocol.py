"""The HTTP/1.1 request-head parser and body framing (qosapp.http.protocol), without sockets."""
from __future__ import annotations

import io

import pytest

from qosapp.http import protocol
from qosapp.http.protocol import Refused, body_framing, parse_request_line, read_head


def head_of(raw: bytes) -> protocol.Head | None:
    return read_head(io.BufferedReader(io.BytesIO(raw)))  # type: ignore[arg-type]


def refusal(raw: bytes) -> tuple[int, str]:
    with pytest.raises(Refused) as err:
        head_of(raw)
    return err.value.status, err.value.field


def test_a_request_head_is_parsed_with_its_headers_in_order() -> None:
    head = head_of(b"POST /qos/policies?wait=confirm HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"Content-Type:  application/json \r\nX-A: 1\r\nx-a: 2\r\n\r\nBODY")
    assert head is not None
    assert (head.method, head.target, head.version) == ("POST", "/qos/policies?wait=confirm", "HTTP/1.1")
    assert head.headers == [("Host", "127.0.0.1"), ("Content-Type", "application/json"), ("X-A", "1"),
                            ("x-a", "2")]


def test_empty_lines_before_the_request_line_are_skipped_and_eof_is_a_clean_end() -> None:
    head = head_of(b"\r\n\r\nGET /qos/status HTTP/1.0\r\n\r\n")
    assert head is not None and head.version == "HTTP/1.0"
    assert head_of(b"") is None
    assert head_of(b"GET /qos/sta") is None  # the client went away mid-line
    assert head_of(b"GET /qos/status HTTP/1.1\r\nHost: x\r\n") is None  # ... or mid-head


@pytest.mark.parametrize("raw, want", [
    (b"GARBAGE\r\n\r\n", (400, "request-line")),
    (b"GET /x\r\n\r\n", (400, "request-line")),  # HTTP/0.9
    (b"GET  /x HTTP/1.1\r\n\r\n", (400, "request-line")),
    (b"get /x HTTP/1.1\r\n\r\n", (400, "request-line")),
    (b"GET /x HTTP/2.0\r\n\r\n", (505, "request-line")),
    (b"GET /x FOO/1.1\r\n\r\n", (400, "request-line")),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", (414, "request-line")),
    (b"GET /x HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", (431, "headers")),
    (b"GET /x HTTP/1.1\r\n" + b"X: a\r\n" * 101 + b"\r\n", (431, "headers")),
    (b"GET /x HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", (400, "headers")),
    (b"GET /x HTTP/1.1\r\nNo colon here\r\n\r\n", (400, "headers")),
    (b"GET /x HTTP/1.1\r\nContent-Length : 5\r\n\r\n", (400, "headers")),
])
def test_malformed_heads_are_refused_naming_the_part(raw: bytes, want: tuple[int, str]) -> None:
    assert refusal(raw) == want


def test_a_long_but_legal_request_line_passes() -> None:
    line = b"GET /" + b"a" * (protocol.MAX_REQUEST_LINE - 20) + b" HTTP/1.1\r\n"
    assert len(line) <= protocol.MAX_REQUEST_LINE
    head = head_of(line + b"\r\n")
    assert head is not None and head.target.startswith("/aaa")


@pytest.mark.parametrize("headers, want", [
    ([], (None, False)),
    ([("Content-Length", "12")], ("12", False)),
    ([("Content-Length", "12"), ("content-length", "12")], ("12", False)),
    ([("Transfer-Encoding", "chunked")], (None, True)),
    ([("Transfer-Encoding", "Chunked ")], (None, True)),
])
def test_body_framing(headers: list[tuple[str, str]], want: tuple[str | None, bool]) -> None:
    assert body_framing(headers) == want


@pytest.mark.parametrize("headers, want", [
    ([("Content-Length", "12"), ("Transfer-Encoding", "chunked")], (400, "Transfer-Encoding")),
    ([("Content-Length", "12"), ("Content-Length", "13")], (400, "Content-Length")),
    ([("Content-Length", "-1")], (400, "Content-Length")),
    ([("Content-Length", "0x10")], (400, "Content-Length")),
    ([("Transfer-Encoding", "gzip, chunked")], (501, "Transfer-Encoding")),
    ([("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")], (501, "Transfer-Encoding")),
])
def test_framing_that_could_smuggle_a_request_is_refused(headers: list[tuple[str, str]],
                                                         want: tuple[int, str]) -> None:
    with pytest.raises(Refused) as err:
        body_framing(headers)
    assert (err.value.status, err.value.field) == want


def test_request_line_parts() -> None:
    assert parse_request_line(b"DELETE /qos/policies/a%20b HTTP/1.1\r\n") == \
        ("DELETE", "/qos/policies/a%20b", "HTTP/1.1")
    assert parse_request_line(b"GET http://127.0.0.1:8080/wm/x HTTP/1.0\n")[1] == "http://127.0.0.1:8080/wm/x"
