"""Malformed HTTP gets 400 or 413 and a closed connection, and the service stays up."""
import json
import socket

import pytest

from conftest import get, http, read_response


def still_up(service):
    assert service.process.poll() is None
    assert get(service.socket_path, "/_ping")[:1] == (200,)


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /_ping HTTP/9.9 extra\r\n\r\n",
    b"GET /_ping HTTP/1.1\r\nBad Header Line\r\n\r\n",
    # Content-Length and Transfer-Encoding together (request smuggling).
    b"POST /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    # Two different Content-Length values.
    b"POST /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    # A chunk size that is not hex.
    b"POST /_ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
], ids=["request-line", "http-version", "header-line", "cl-and-te", "two-content-lengths", "bad-chunk"])
def test_malformed_requests_get_400_and_close(start_service, raw):
    service = start_service()
    status, headers, body, closed = http(service.socket_path, raw)
    assert status == 400
    assert headers.get("connection", "").lower() == "close"
    assert closed
    still_up(service)


def test_body_over_the_limit_by_content_length_gets_413(start_service):
    service = start_service()
    limit = 4 << 20
    status, headers, body, closed = http(
        service.socket_path,
        f"POST /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: {limit + 1}\r\n\r\n".encode())
    assert status == 413
    assert json.loads(body) == {"message": f"request body is larger than the limit of {limit} bytes"}
    assert closed
    still_up(service)


def test_chunked_body_over_the_limit_gets_413(start_service):
    service = start_service()
    limit = 4 << 20
    chunk = b"x" * 65536
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(service.socket_path)
        s.sendall(b"POST /_ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent = 0
        try:
            while sent <= limit:
                s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the server answered and closed before everything was sent
        status, headers, body, closed = read_response(s)
    assert status == 413
    assert json.loads(body)["message"] == f"request body is larger than the limit of {limit} bytes"
    still_up(service)


def test_a_body_within_the_limit_is_accepted(start_service):
    service = start_service()
    body = b"y" * 1000
    status, _, got, _ = http(service.socket_path,
                             b"GET /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + body)
    assert (status, got) == (200, b"OK")


def test_keep_alive_serves_many_requests_on_one_connection(start_service):
    service = start_service()
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(service.socket_path)
        for _ in range(50):
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, body, _ = read_response(s)
            assert (status, body) == (200, b"OK")
