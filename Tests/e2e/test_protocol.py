"""Wire-level contract shared by every operation: x-amz-request-id on every response,
the S3 error document, HEAD errors without a body, virtual-hosted-style addressing."""

import hashlib
import socket

import pytest
import requests

BODY = b"protocol test body"
OTHER_ETAG = '"0123456789abcdef0123456789abcdef"'
# A bucket policy: an operation not built yet (issue 16), so its answer is the 501 document.
POLICY_JSON = b'{"Version": "2012-10-17", "Statement": []}'
WEBSITE_XML = b'<WebsiteConfiguration><IndexDocument><Suffix>index.html</Suffix></IndexDocument></WebsiteConfiguration>'


def test_every_response_carries_a_request_id(raw, bucket):
    etag = f'"{hashlib.md5(BODY).hexdigest()}"'
    exchanges = [
        ("PUT", f"/{bucket}/k", "", {}, BODY, 200, False),
        ("GET", f"/{bucket}/k", "", {}, b"", 200, False),
        ("HEAD", f"/{bucket}/k", "", {}, b"", 200, False),
        ("GET", f"/{bucket}/k", "", {"Range": "bytes=0-3"}, b"", 206, False),
        ("GET", f"/{bucket}/k", "", {"If-None-Match": etag}, b"", 304, False),
        ("GET", f"/{bucket}/k", "", {"If-Match": OTHER_ETAG}, b"", 412, False),
        ("PUT", f"/{bucket}/k", "", {"If-None-Match": "*"}, BODY, 412, False),
        ("GET", f"/{bucket}/missing", "", {}, b"", 404, False),
        ("HEAD", f"/{bucket}/missing", "", {}, b"", 404, False),
        ("GET", "/", "", {}, b"", 200, False),
        ("GET", f"/{bucket}", "list-type=2", {}, b"", 200, False),
        ("GET", f"/{bucket}", "location", {}, b"", 200, False),
        ("PUT", f"/{bucket}", "policy", {}, POLICY_JSON, 400, False),   # MalformedPolicy: no statement
        ("PUT", f"/{bucket}", "website", {}, WEBSITE_XML, 501, False),
        ("PUT", f"/{bucket}/dst", "renameObject", {}, b"", 400, False),
        ("GET", f"/{bucket}/k", "", {}, b"", 403, True),
        ("DELETE", f"/{bucket}/k", "", {}, b"", 204, False),
    ]
    request_ids = []
    for method, path, query, headers, body, status, anonymous in exchanges:
        response = raw.request(
            method, path, query=query, headers=headers, body=body, sign=not anonymous
        )
        label = f"{method} {path}?{query} {headers}"
        assert response.status_code == status, f"{label}: {response.status_code} {response.text}"
        request_id = response.headers.get("x-amz-request-id")
        assert request_id, f"{label}: no x-amz-request-id in {dict(response.headers)}"
        request_ids.append(request_id)
    assert len(set(request_ids)) == len(request_ids), "request ids repeat"


def test_object_error_document(raw, error_xml, bucket):
    response = raw.request("GET", f"/{bucket}/dir/missing%20key")
    assert response.status_code == 404
    assert "xml" in response.headers.get("Content-Type", "")
    error = error_xml(response.content)
    assert error["Code"] == "NoSuchKey"
    assert error["Message"]
    assert error["Resource"] == f"/{bucket}/dir/missing key"
    assert error["RequestId"] == response.headers["x-amz-request-id"]


def test_precondition_failed_document_names_the_condition(raw, error_xml, bucket):
    assert raw.request("PUT", f"/{bucket}/k", body=BODY).status_code == 200
    response = raw.request("PUT", f"/{bucket}/k", headers={"If-None-Match": "*"}, body=b"new")
    assert response.status_code == 412
    error = error_xml(response.content)
    assert error["Code"] == "PreconditionFailed"
    assert error["Condition"] == "If-None-Match"
    assert error["Resource"] == f"/{bucket}/k"
    assert error["RequestId"] == response.headers["x-amz-request-id"]
    assert error["Message"]


def test_not_implemented_document(raw, error_xml, bucket):
    response = raw.request("PUT", f"/{bucket}", query="website", body=WEBSITE_XML)
    assert response.status_code == 501
    assert error_xml(response.content)["Code"] == "NotImplemented"


def raw_exchange(raw, method: str, path: str, headers: dict) -> bytes:
    """Send one signed request over a bare socket with `Connection: close` and return
    every byte the server sends back until it closes (or goes quiet for 3 s)."""
    host = f"{raw.endpoint.host}:{raw.endpoint.port}"
    signed = raw.signed_headers(
        method, f"{raw.endpoint.url}{path}", {**headers, "Host": host}, b"",
        raw.endpoint.access_key, raw.endpoint.secret_key, None,
    )
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in signed.items()]
    request = ("\r\n".join(lines + ["Connection: close", "", ""])).encode()
    received = []
    with socket.create_connection((raw.endpoint.host, raw.endpoint.port), timeout=3) as sock:
        sock.sendall(request)
        while True:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            received.append(data)
    return b"".join(received)


def test_a_connection_the_client_closes_is_announced_closed(raw, bucket):
    """`Connection: close` from the client: the answer says `Connection: close` (RFC 9112
    §9.6) and the server closes — a client must not send its next request on it."""
    answer = raw_exchange(raw, "GET", f"/{bucket}/missing", {})
    head = answer.split(b"\r\n\r\n", 1)[0].decode().lower().split("\r\n")
    assert head[0].startswith("http/1.1 404")
    assert "connection: close" in head, head


@pytest.mark.parametrize(
    "headers, status",
    [({}, 404), ({"If-Match": OTHER_ETAG}, 412), ({"If-None-Match": "*"}, 304)],
    ids=["404", "412", "304"],
)
def test_head_answers_have_no_body(s3, raw, bucket, headers, status):
    """Bytes after a HEAD answer's headers would corrupt the next response on the connection."""
    s3.put_object(Bucket=bucket, Key="k", Body=BODY)
    key = "missing" if status == 404 else "k"
    answer = raw_exchange(raw, "HEAD", f"/{bucket}/{key}", headers)
    head, separator, rest = answer.partition(b"\r\n\r\n")
    assert separator, f"incomplete answer: {answer[:300]!r}"
    status_line = head.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 %d" % status), status_line
    assert rest == b"", f"HEAD answer carried a body: {rest[:300]!r}"
    assert b"\r\nx-amz-request-id:" in head.lower(), head


# ---------------------------------------------------------------------------
# Virtual-hosted-style addressing: Host BUCKET.localhost:PORT
# ---------------------------------------------------------------------------


def test_virtual_hosted_style_object_lifecycle(s3, raw, xml_document, bucket):
    put = raw.request(
        "PUT", "/v/key.txt", body=BODY, virtual_host=bucket, headers={"Content-Type": "text/plain"}
    )
    assert put.status_code == 200, put.text
    assert s3.get_object(Bucket=bucket, Key="v/key.txt")["Body"].read() == BODY

    got = raw.request("GET", "/v/key.txt", virtual_host=bucket)
    assert got.status_code == 200
    assert got.content == BODY
    assert got.headers["Content-Type"] == "text/plain"

    head = raw.request("HEAD", "/v/key.txt", virtual_host=bucket)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(BODY))

    listing = raw.request("GET", "/", query="list-type=2&prefix=v%2F", virtual_host=bucket)
    assert listing.status_code == 200
    root = xml_document(listing.content)
    assert root.findtext("Name") == bucket
    assert [c.findtext("Key") for c in root.iter("Contents")] == ["v/key.txt"]

    deleted = raw.request("DELETE", "/v/key.txt", virtual_host=bucket)
    assert deleted.status_code == 204
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_virtual_hosted_style_missing_bucket(raw, error_xml, bucket_name_factory):
    response = raw.request("GET", "/k", virtual_host=bucket_name_factory("missing"))
    assert response.status_code == 404
    assert error_xml(response.content)["Code"] == "NoSuchBucket"


def test_path_style_on_localhost_is_still_path_style(raw, bucket):
    """Host `localhost:PORT` (no bucket label) must be read as path-style."""
    assert raw.request("PUT", f"/{bucket}/p", body=BODY).status_code == 200
    url = f"http://localhost:{raw.endpoint.port}/{bucket}/p"
    headers = raw.signed_headers(
        "GET", url, {}, b"", raw.endpoint.access_key, raw.endpoint.secret_key, None
    )
    headers["Host"] = f"localhost:{raw.endpoint.port}"
    response = requests.get(f"{raw.endpoint.url}/{bucket}/p", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.content == BODY
