"""POST Object (issue 16, point 7): browser form uploads made by boto3's
generate_presigned_post (SigV4, and SigV2 with signature_version='s3') and sent by
`requests` as multipart/form-data — accepted when the form meets its signed policy,
refused (with nothing stored) when it does not; anonymous forms only where a bucket
policy grants s3:PutObject to everyone; a user's key only on what it may write."""

from __future__ import annotations

import hashlib
import os
import uuid
from xml.etree import ElementTree

import boto3
import pytest
import requests
from botocore.config import Config

from conftest import REGION
from test_policies import policy
from test_users import client, new_user


def signer(s3_endpoint, access=None, secret=None, v2=False):
    return boto3.session.Session().client(
        "s3", endpoint_url=s3_endpoint.url, region_name=REGION,
        aws_access_key_id=access or s3_endpoint.access_key, aws_secret_access_key=secret or s3_endpoint.secret_key,
        config=Config(signature_version="s3" if v2 else "s3v4", s3={"addressing_style": "path"}))


def post(form, body=b"hello", filename="hello.txt", fields=None):
    data = dict(form["fields"], **(fields or {}))
    return requests.post(form["url"], data=data, files={"file": (filename, body)}, timeout=120)


def keys(s3, bucket):
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def error_code(response):
    return ElementTree.fromstring(response.content).findtext("Code")


@pytest.fixture
def bucket(s3, bucket_name_factory):
    name = bucket_name_factory("post")
    s3.create_bucket(Bucket=name)
    return name


LIMITED = (["content-length-range", 1, 1000], ["starts-with", "$key", "uploads/"])   # boto3 appends to the list it is given


@pytest.mark.parametrize("v2", [False, True], ids=["sigv4", "sigv2"])
def test_a_form_within_its_policy_is_stored(s3_endpoint, s3, bucket, v2):
    form = signer(s3_endpoint, v2=v2).generate_presigned_post(
        bucket, "uploads/${filename}", Fields={"Content-Type": "text/plain", "x-amz-meta-origin": "form"},
        Conditions=[*LIMITED, {"Content-Type": "text/plain"}, {"x-amz-meta-origin": "form"}], ExpiresIn=300)
    response = post(form, b"hello form")
    assert response.status_code == 204, response.text
    head = s3.head_object(Bucket=bucket, Key="uploads/hello.txt")
    assert head["ContentType"] == "text/plain"
    assert head["Metadata"] == {"origin": "form"}
    assert response.headers["ETag"] == head["ETag"] == '"%s"' % hashlib.md5(b"hello form").hexdigest()
    assert s3.get_object(Bucket=bucket, Key="uploads/hello.txt")["Body"].read() == b"hello form"


@pytest.mark.parametrize("v2", [False, True], ids=["sigv4", "sigv2"])
@pytest.mark.parametrize("case", ["too-big", "too-small", "outside-prefix", "expired", "altered", "extra-field"])
def test_a_form_outside_its_policy_is_refused_and_nothing_stored(s3_endpoint, s3, bucket, v2, case):
    expires = -10 if case == "expired" else 300
    form = signer(s3_endpoint, v2=v2).generate_presigned_post(
        bucket, "uploads/${filename}", Conditions=[*LIMITED], ExpiresIn=expires)
    body, fields = b"hello", {}
    if case == "too-big":
        body = os.urandom(4000)
    if case == "too-small":
        body = b""
    if case == "outside-prefix":
        fields = {"key": "elsewhere/${filename}"}
    if case == "altered":
        name = "signature" if v2 else "x-amz-signature"
        value = form["fields"][name]
        other = ("A", "B") if v2 else ("0", "1")
        fields = {name: (other[0] if value[0] != other[0] else other[1]) + value[1:]}
    if case == "extra-field":
        fields = {"x-amz-meta-unsigned": "1"}
    response = post(form, body, fields=fields)
    expected = {"too-big": (400, "EntityTooLarge"), "too-small": (400, "EntityTooSmall"),
                "altered": (403, "SignatureDoesNotMatch")}.get(case, (403, "AccessDenied"))
    assert (response.status_code, error_code(response)) == expected, response.text
    assert keys(s3, bucket) == []


def test_success_action_status_201_answers_the_post_response(s3_endpoint, bucket):
    form = signer(s3_endpoint).generate_presigned_post(
        bucket, "a/b c.txt", Fields={"success_action_status": "201"},
        Conditions=[{"success_action_status": "201"}])
    response = post(form)
    assert response.status_code == 201, response.text
    root = ElementTree.fromstring(response.content)
    assert root.tag == "PostResponse"
    assert root.findtext("Bucket") == bucket
    assert root.findtext("Key") == "a/b c.txt"
    assert root.findtext("ETag") == '"%s"' % hashlib.md5(b"hello").hexdigest()
    assert root.findtext("Location").endswith(f"/{bucket}/a/b%20c.txt")


def test_success_action_redirect_answers_303_with_the_object(s3_endpoint, s3, bucket):
    target = "https://example.com/done?from=form"
    form = signer(s3_endpoint).generate_presigned_post(
        bucket, "redirected", Fields={"success_action_redirect": target},
        Conditions=[{"success_action_redirect": target}])
    response = requests.post(form["url"], data=form["fields"], files={"file": ("x", b"hello")},
                             allow_redirects=False, timeout=60)
    assert response.status_code == 303, response.text
    location = response.headers["Location"]
    assert location.startswith("https://example.com/done?from=form&")
    assert f"bucket={bucket}" in location and "key=redirected" in location and "etag=" in location
    assert keys(s3, bucket) == ["redirected"]


def anonymous_form(s3_endpoint, bucket, key):
    return {"url": f"{s3_endpoint.url}/{bucket}", "fields": {"key": key}}


def test_an_anonymous_form_is_stored_only_where_a_policy_grants_everyone_put(s3_endpoint, s3, bucket,
                                                                           bucket_name_factory):
    private = bucket_name_factory("postpriv")
    s3.create_bucket(Bucket=private)
    s3.put_bucket_policy(Bucket=bucket, Policy=policy({
        "Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/drop/*"}))
    assert post(anonymous_form(s3_endpoint, bucket, "drop/${filename}")).status_code == 204
    assert keys(s3, bucket) == ["drop/hello.txt"]
    refused = post(anonymous_form(s3_endpoint, bucket, "elsewhere"))
    assert (refused.status_code, error_code(refused)) == (403, "AccessDenied")
    refused = post(anonymous_form(s3_endpoint, private, "drop/x"))
    assert (refused.status_code, error_code(refused)) == (403, "AccessDenied")
    assert keys(s3, bucket) == ["drop/hello.txt"] and keys(s3, private) == []


def test_a_users_key_works_on_its_own_bucket_only(s3_endpoint, tmp_path):
    _, alice_access, alice_secret = new_user(s3_endpoint, tmp_path)
    _, bob_access, bob_secret = new_user(s3_endpoint, tmp_path)
    alice = client(s3_endpoint.url, alice_access, alice_secret)
    bob = client(s3_endpoint.url, bob_access, bob_secret)
    mine, theirs = "post-" + uuid.uuid4().hex[:12], "post-" + uuid.uuid4().hex[:12]
    alice.create_bucket(Bucket=mine)
    bob.create_bucket(Bucket=theirs)
    for v2 in (False, True):
        own = signer(s3_endpoint, alice_access, alice_secret, v2=v2).generate_presigned_post(mine, f"k{v2}")
        assert post(own).status_code == 204
        other = signer(s3_endpoint, alice_access, alice_secret, v2=v2).generate_presigned_post(theirs, "k")
        refused = post(other)
        assert (refused.status_code, error_code(refused)) == (403, "AccessDenied")
    assert keys(alice, mine) == ["kFalse", "kTrue"]
    assert keys(bob, theirs) == []


def test_fields_whose_promise_is_not_kept_are_refused(s3_endpoint, s3, bucket):
    for extra in ({"x-amz-storage-class": "GLACIER"}, {"tagging": "<Tagging/>"}):
        name, value = next(iter(extra.items()))
        form = signer(s3_endpoint).generate_presigned_post(bucket, "k", Fields=extra, Conditions=[{name: value}])
        refused = post(form)
        assert (refused.status_code, error_code(refused)) == (501, "NotImplemented"), name
    assert keys(s3, bucket) == []


def test_the_acl_field_sets_the_objects_acl(s3_endpoint, s3, bucket, bucket_name_factory):
    """`acl` is the new object's canned ACL: refused (400, nothing stored) where the
    bucket's ownership disables ACLs, kept where it enables them."""
    form = signer(s3_endpoint).generate_presigned_post(bucket, "k", Fields={"acl": "public-read"},
                                                       Conditions=[{"acl": "public-read"}])
    refused = post(form)
    assert (refused.status_code, error_code(refused)) == (400, "AccessControlListNotSupported")
    assert keys(s3, bucket) == []
    name = bucket_name_factory("post-acl")
    s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter")
    form = signer(s3_endpoint).generate_presigned_post(name, "open", Fields={"acl": "public-read"},
                                                       Conditions=[{"acl": "public-read"}])
    assert post(form).status_code == 204
    assert requests.get(f"{s3_endpoint.url}/{name}/open", timeout=10).status_code == 200
    s3.delete_object(Bucket=name, Key="open")


def test_a_missing_key_and_a_missing_file_are_invalid_arguments(s3_endpoint, s3, bucket):
    form = signer(s3_endpoint).generate_presigned_post(bucket, "k")
    fields = dict(form["fields"])
    del fields["key"]
    refused = requests.post(form["url"], data=fields, files={"file": ("x", b"1")}, timeout=60)
    assert (refused.status_code, error_code(refused)) == (400, "InvalidArgument")
    refused = requests.post(form["url"], files={name: (None, value) for name, value in form["fields"].items()}, timeout=60)
    assert (refused.status_code, error_code(refused)) == (400, "InvalidArgument")
    refused = requests.post(form["url"], data=form["fields"], timeout=60)   # urlencoded, not a form
    assert refused.status_code == 412
    assert keys(s3, bucket) == []


def test_a_large_file_is_streamed(s3_endpoint, s3, bucket):
    size = 64 << 20
    form = signer(s3_endpoint).generate_presigned_post(
        bucket, "big", Conditions=[["content-length-range", 0, size]])
    block = os.urandom(1 << 20)
    digest = hashlib.md5(block * 64).hexdigest()
    response = requests.post(form["url"], data=form["fields"], files={"file": ("big", block * 64)}, timeout=600)
    assert response.status_code == 204, response.text
    assert response.headers["ETag"] == f'"{digest}"'
    assert s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == size


def test_oversized_fields_and_a_broken_form_are_refused(s3_endpoint, s3, bucket):
    url = f"{s3_endpoint.url}/{bucket}"
    big = requests.post(url, data={"key": "k", "x-ignore-padding": "x" * (21 << 10)}, files={"file": ("f", b"1")}, timeout=60)
    assert (big.status_code, error_code(big)) == (400, "MaxPostPreDataLengthExceeded")
    boundary = "b0undary"
    truncated = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n"
                 f"--{boundary}\r\nContent-Disposition: form-data; name=\"acl\"\r\n\r\nno end").encode()
    broken = requests.post(url, data=truncated, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                           timeout=60)
    assert (broken.status_code, error_code(broken)) == (400, "MalformedPOSTRequest")
    assert keys(s3, bucket) == []
