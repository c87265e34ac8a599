"""One connection, several requests: HTTP/1.1 pipelining answered in request order
(GETs whose answers wait on the socket, PUTs with bodies, HEADs and errors mixed),
`Connection: close` kept, and a client that leaves mid-body costing nothing but its
connection."""
from __future__ import annotations

import hashlib
import os
import socket
import time
import urllib.parse

import requests


READ_TIMEOUT_SECONDS = 30


def presigned(s3, method: str, bucket: str, key: str) -> str:
    """The request target (path and query) of a presigned URL."""
    operation = {"GET": "get_object", "PUT": "put_object", "HEAD": "head_object"}[method]
    url = s3.generate_presigned_url(operation, Params={"Bucket": bucket, "Key": key}, ExpiresIn=600)
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}"


def request_bytes(method: str, target: str, netloc: str, body: bytes = b"", headers: dict | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {netloc}"]
    if method == "PUT":
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Answers:
    """Reads HTTP/1.1 answers off one socket, in order (Content-Length framing, as the
    server frames every answer here)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(1 << 20)
        self.buffer += chunk
        return bool(chunk)

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            assert self._fill(), "connection closed in an answer's head"
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def next(self, head: bool = False) -> tuple[int, dict[str, str], bytes]:
        status = int(self._line().split()[1])
        headers = {}
        while line := self._line():
            name, value = line.decode().split(":", 1)
            headers[name.strip().lower()] = value.strip()
        length = 0 if head else int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            assert self._fill(), "connection closed in an answer's body"
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def closed(self) -> bool:
        """True when the server closed the connection (nothing more to read)."""
        self.sock.settimeout(READ_TIMEOUT_SECONDS)
        return not self.buffer and not self._fill()


def connect(endpoint) -> socket.socket:
    sock = socket.create_connection((endpoint.host, endpoint.port), timeout=READ_TIMEOUT_SECONDS)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def test_pipelined_requests_are_answered_in_order(s3_endpoint, s3, bucket):
    small, big = os.urandom(5000), os.urandom(24 << 20)
    s3.put_object(Bucket=bucket, Key="small", Body=small)
    s3.put_object(Bucket=bucket, Key="big", Body=big)
    written = os.urandom(70_000)
    netloc = s3_endpoint.netloc
    # A big GET first: its answer waits on the socket (the client reads nothing until all
    # is sent), so what follows comes while an inline answer is owed. Then a PUT (to
    # Hummingbird), a GET of what it wrote right behind it, a HEAD, a 404 and a GET again.
    pipeline = b"".join([
        request_bytes("GET", presigned(s3, "GET", bucket, "big"), netloc),
        request_bytes("PUT", presigned(s3, "PUT", bucket, "written"), netloc, written),
        request_bytes("GET", presigned(s3, "GET", bucket, "written"), netloc),
        request_bytes("HEAD", presigned(s3, "HEAD", bucket, "small"), netloc),
        request_bytes("GET", presigned(s3, "GET", bucket, "absent"), netloc),
        request_bytes("GET", presigned(s3, "GET", bucket, "small"), netloc),
    ])
    with connect(s3_endpoint) as sock:
        sock.sendall(pipeline)
        time.sleep(0.5)  # let the server read all of it while the big answer waits
        answers = Answers(sock)
        status, headers, body = answers.next()
        assert status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(big).digest()
        status, headers, _ = answers.next()
        assert status == 200 and headers["etag"] == f'"{hashlib.md5(written).hexdigest()}"'
        status, headers, body = answers.next()
        assert status == 200 and body == written
        status, headers, body = answers.next(head=True)
        assert status == 200 and headers["content-length"] == str(len(small)) and body == b""
        status, headers, body = answers.next()
        assert status == 404 and b"<Code>NoSuchKey</Code>" in body
        status, headers, body = answers.next()
        assert status == 200 and body == small
        # The connection is still open for more.
        sock.sendall(request_bytes("GET", presigned(s3, "GET", bucket, "small"), netloc))
        assert answers.next()[2] == small


def test_connection_close_closes_after_the_answer(s3_endpoint, s3, bucket):
    body = os.urandom(4096)
    s3.put_object(Bucket=bucket, Key="k", Body=body)
    with connect(s3_endpoint) as sock:
        sock.sendall(request_bytes("GET", presigned(s3, "GET", bucket, "k"), s3_endpoint.netloc,
                                   headers={"Connection": "close"}) +
                     request_bytes("GET", presigned(s3, "GET", bucket, "k"), s3_endpoint.netloc))
        answers = Answers(sock)
        status, headers, got = answers.next()
        assert status == 200 and got == body and headers["connection"] == "close"
        assert answers.closed(), "the second request was answered on a connection that said close"


def test_a_client_leaving_mid_body_leaves_the_server_serving(s3_endpoint, s3, bucket):
    big = os.urandom(32 << 20)
    s3.put_object(Bucket=bucket, Key="big", Body=big)
    for _ in range(3):
        with connect(s3_endpoint) as sock:
            sock.sendall(request_bytes("GET", presigned(s3, "GET", bucket, "big"), s3_endpoint.netloc))
            assert sock.recv(65536)
        # closed with most of the body unread
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == big
    assert requests.get(f"{s3_endpoint.url}/-/ready", timeout=10).status_code == 200
