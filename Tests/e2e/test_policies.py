"""Bucket policies (issue 16, points 2, 3 and 5): Put/Get/DeleteBucketPolicy and
GetBucketPolicyStatus with IAM's policy language; explicit deny beats allow; the owner may
do what no Deny forbids; other users and unsigned requests get exactly what an Allow
grants — all refusals 403 with nothing changed."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from test_users import client, code_of, new_user


def policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def user_arn(name: str) -> str:
    return f"arn:aws:iam::000000000000:user/{name}"


@pytest.fixture
def pair(s3_endpoint, tmp_path):
    """Two users (alice owns a bucket with one object, bob is another user)."""
    url = s3_endpoint.url
    alice_name, *alice_key = new_user(s3_endpoint, tmp_path)
    bob_name, *bob_key = new_user(s3_endpoint, tmp_path)
    alice, bob = client(url, *alice_key), client(url, *bob_key)
    bucket = "pol-" + uuid.uuid4().hex[:12]
    alice.create_bucket(Bucket=bucket)
    alice.put_object(Bucket=bucket, Key="data/one", Body=b"one")
    return type("Pair", (), dict(url=url, alice=alice, bob=bob, alice_name=alice_name, bob_name=bob_name, bucket=bucket))


def test_a_policy_grants_read_and_nothing_more(pair):
    bob, bucket = pair.bob, pair.bucket
    assert code_of(lambda: bob.get_object(Bucket=bucket, Key="data/one"))[0] == 403
    pair.alice.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Sid": "read", "Effect": "Allow", "Principal": {"AWS": [user_arn(pair.bob_name)]},
         "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}))
    assert bob.get_object(Bucket=bucket, Key="data/one")["Body"].read() == b"one"
    assert [o["Key"] for o in bob.list_objects_v2(Bucket=bucket)["Contents"]] == ["data/one"]
    for call in (lambda: bob.put_object(Bucket=bucket, Key="data/two", Body=b"two"),
                 lambda: bob.delete_object(Bucket=bucket, Key="data/one"),
                 lambda: bob.rename_object(Bucket=bucket, Key="data/moved", RenameSource="data/one"),
                 lambda: bob.put_bucket_policy(Bucket=bucket, Policy=policy(
                     {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{bucket}/*"})),
                 lambda: bob.get_bucket_policy(Bucket=bucket)):
        assert code_of(call)[0] == 403
    # The read-only user's rename changed nothing.
    assert [o["Key"] for o in pair.alice.list_objects_v2(Bucket=bucket)["Contents"]] == ["data/one"]
    assert pair.alice.get_object(Bucket=bucket, Key="data/one")["Body"].read() == b"one"
    # Rename needs PutObject on the destination and DeleteObject on the source.
    pair.alice.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": user_arn(pair.bob_name)}, "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Effect": "Allow", "Principal": {"AWS": user_arn(pair.bob_name)}, "Action": "s3:DeleteObject",
         "Resource": f"arn:aws:s3:::{bucket}/tmp/*"}))
    assert code_of(lambda: bob.rename_object(Bucket=bucket, Key="final/one", RenameSource="data/one"))[0] == 403
    bob.put_object(Bucket=bucket, Key="tmp/ckpt", Body=b"ckpt")
    bob.rename_object(Bucket=bucket, Key="final/ckpt", RenameSource="tmp/ckpt")
    assert pair.alice.get_object(Bucket=bucket, Key="final/ckpt")["Body"].read() == b"ckpt"


def test_explicit_deny_beats_the_owner_and_every_allow(pair):
    alice, bucket = pair.alice, pair.bucket
    alice.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{bucket}/data/*"}))
    assert code_of(lambda: alice.delete_object(Bucket=bucket, Key="data/one"))[0] == 403
    assert code_of(lambda: pair.bob.delete_object(Bucket=bucket, Key="data/one"))[0] == 403
    assert alice.get_object(Bucket=bucket, Key="data/one")["Body"].read() == b"one"
    # The owner keeps its policy in hand, whatever the policy says.
    alice.delete_bucket_policy(Bucket=bucket)
    alice.delete_object(Bucket=bucket, Key="data/one")


def test_a_public_read_bucket_serves_unsigned_gets_only(pair, s3_error):
    alice, bucket, url = pair.alice, pair.bucket, pair.url
    assert requests.get(f"{url}/{bucket}/data/one", timeout=10).status_code == 403
    with s3_error(404, "NoSuchBucketPolicy"):
        alice.get_bucket_policy_status(Bucket=bucket)
    alice.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Sid": "public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/data/*"}))
    assert alice.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    got = requests.get(f"{url}/{bucket}/data/one", timeout=10)
    assert got.status_code == 200 and got.content == b"one"
    assert requests.head(f"{url}/{bucket}/data/one", timeout=10).status_code == 200
    assert requests.get(f"{url}/{bucket}/data/missing", timeout=10).status_code == 404
    for answer in (requests.put(f"{url}/{bucket}/data/two", data=b"two", timeout=10),
                   requests.delete(f"{url}/{bucket}/data/one", timeout=10),
                   requests.get(f"{url}/{bucket}?list-type=2", timeout=10),
                   requests.get(f"{url}/{bucket}/other", timeout=10),
                   requests.get(f"{url}/", timeout=10)):
        assert answer.status_code == 403, (answer.request.method, answer.request.url, answer.status_code)
    assert [o["Key"] for o in alice.list_objects_v2(Bucket=bucket)["Contents"]] == ["data/one"]
    assert json.loads(alice.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Sid"] == "public"


def test_conditions(pair):
    alice, bob, bucket = pair.alice, pair.bob, pair.bucket
    alice.put_object(Bucket=bucket, Key="tagged", Body=b"t", Tagging="class=public")
    alice.put_object(Bucket=bucket, Key="secret", Body=b"s", Tagging="class=secret")
    who = {"AWS": user_arn(pair.bob_name)}
    alice.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Allow", "Principal": who, "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": ["data/*"]}, "NumericLessThanEquals": {"s3:max-keys": "100"}}},
        {"Effect": "Allow", "Principal": who, "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]},
                       "StringEquals": {"s3:ExistingObjectTag/class": "public"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "AES256"},
                       "Null": {"s3:x-amz-server-side-encryption": "false"}}}))
    assert [o["Key"] for o in bob.list_objects_v2(Bucket=bucket, Prefix="data/", MaxKeys=10)["Contents"]] == ["data/one"]
    assert code_of(lambda: bob.list_objects_v2(Bucket=bucket, Prefix="other/"))[0] == 403
    assert code_of(lambda: bob.list_objects_v2(Bucket=bucket, Prefix="data/", MaxKeys=500))[0] == 403
    assert bob.get_object(Bucket=bucket, Key="tagged")["Body"].read() == b"t"
    assert code_of(lambda: bob.get_object(Bucket=bucket, Key="secret"))[0] == 403
    # The deny refuses a PUT that names another encryption; no header, or AES256, passes.
    assert code_of(lambda: alice.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms"))[0] == 403
    alice.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256")
    alice.put_object(Bucket=bucket, Key="k2", Body=b"x")
    # A source address outside the range is refused.
    alice.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Allow", "Principal": who, "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}))
    assert code_of(lambda: bob.get_object(Bucket=bucket, Key="tagged"))[0] == 403
    alice.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Allow", "Principal": who, "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}, "StringEquals": {"aws:username": pair.bob_name},
                       "DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}}))
    assert bob.get_object(Bucket=bucket, Key="tagged")["Body"].read() == b"t"


@pytest.mark.parametrize("document, why", [
    ("not json", "valid JSON"),
    ('{"Statement": []}', "empty"),
    (policy({"Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::BUCKET/*"}), "Effect"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "iam:CreateUser", "Resource": "arn:aws:s3:::BUCKET/*"}), "s3: action"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::elsewhere/*"}), "invalid resource"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::BUCKET/*",
             "Condition": {"StringSoundsLike": {"aws:username": "x"}}}), "StringSoundsLike"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::BUCKET/*",
             "Condition": {"IpAddress": {"aws:SourceIp": "300.1.1.1/8"}}}), "IP address"),
    (policy({"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::BUCKET/*"}), "principal"),
    (policy({"Effect": "Allow", "Principal": "*", "NotPrincipal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::BUCKET/*"}), "cannot both"),
])
def test_malformed_policies_are_refused_with_the_reason(pair, document, why):
    pair.alice.put_bucket_policy(Bucket=pair.bucket, Policy=policy(
        {"Sid": "kept", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{pair.bucket}/*"}))
    with pytest.raises(Exception) as refused:
        pair.alice.put_bucket_policy(Bucket=pair.bucket, Policy=document.replace("BUCKET", pair.bucket))
    error = refused.value.response["Error"]
    assert error["Code"] == "MalformedPolicy" and why in error["Message"], error
    assert json.loads(pair.alice.get_bucket_policy(Bucket=pair.bucket)["Policy"])["Statement"][0]["Sid"] == "kept"


def test_users_own_policies_grant_and_deny(pair, s3_endpoint, tmp_path):
    """`stowage admin policy attach`: a user's policy (no Principal: it is the user's)
    grants on any bucket and denies on its own too."""
    from test_users import admin
    bucket, bob = pair.bucket, pair.bob
    document = tmp_path / "reader.json"
    document.write_text(policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/data/*"},
                               {"Effect": "Deny", "Action": "s3:CreateBucket", "Resource": "*"}))
    assert code_of(lambda: bob.get_object(Bucket=bucket, Key="data/one"))[0] == 403
    done = admin(s3_endpoint, tmp_path, "policy", "attach", pair.bob_name, "reader", "--file", str(document))
    assert done.returncode == 0, done.stderr
    listed = admin(s3_endpoint, tmp_path, "policy", "list", pair.bob_name)
    assert listed.returncode == 0 and listed.stdout.startswith("reader\t")
    assert bob.get_object(Bucket=bucket, Key="data/one")["Body"].read() == b"one"
    assert code_of(lambda: bob.put_object(Bucket=bucket, Key="data/two", Body=b"two"))[0] == 403
    assert code_of(lambda: bob.create_bucket(Bucket="bob-" + uuid.uuid4().hex[:12]))[0] == 403
    # A bucket policy's Deny still wins over the user's Allow.
    pair.alice.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Deny", "Principal": {"AWS": user_arn(pair.bob_name)}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}))
    assert code_of(lambda: bob.get_object(Bucket=bucket, Key="data/one"))[0] == 403
    pair.alice.delete_bucket_policy(Bucket=bucket)
    # A user's policy names no principal; one that does is refused and changes nothing.
    bad = tmp_path / "bad.json"
    bad.write_text(policy({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}))
    refused = admin(s3_endpoint, tmp_path, "policy", "attach", pair.bob_name, "reader", "--file", str(bad))
    assert refused.returncode != 0 and "MalformedPolicy" in refused.stderr
    assert bob.get_object(Bucket=bucket, Key="data/one")["Body"].read() == b"one"
    assert admin(s3_endpoint, tmp_path, "policy", "detach", pair.bob_name, "reader").returncode == 0
    assert code_of(lambda: bob.get_object(Bucket=bucket, Key="data/one"))[0] == 403
    bob.create_bucket(Bucket="bob-" + uuid.uuid4().hex[:12])


def test_public_access_block(pair, s3_error):
    alice, bucket, url = pair.alice, pair.bucket, pair.url
    with s3_error(404, "NoSuchPublicAccessBlockConfiguration"):
        alice.get_public_access_block(Bucket=bucket)
    public = policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"})
    alice.put_bucket_policy(Bucket=bucket, Policy=public)
    assert requests.get(f"{url}/{bucket}/data/one", timeout=10).status_code == 200
    everything = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert code_of(lambda: pair.bob.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=everything))[0] == 403, "only the owner sets it"
    alice.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"RestrictPublicBuckets": True})
    got = alice.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got == {"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": True}
    # RestrictPublicBuckets: the public policy grants unsigned requests nothing any more.
    assert requests.get(f"{url}/{bucket}/data/one", timeout=10).status_code == 403
    assert alice.get_object(Bucket=bucket, Key="data/one")["Body"].read() == b"one"
    # BlockPublicPolicy: a public policy is refused; a private one is not.
    alice.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=everything)
    alice.delete_bucket_policy(Bucket=bucket)
    with s3_error(403, "AccessDenied"):
        alice.put_bucket_policy(Bucket=bucket, Policy=public)
    with s3_error(404, "NoSuchBucketPolicy"):
        alice.get_bucket_policy(Bucket=bucket)
    alice.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": user_arn(pair.bob_name)}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}))
    assert pair.bob.get_object(Bucket=bucket, Key="data/one")["Body"].read() == b"one"
    alice.delete_public_access_block(Bucket=bucket)
    with s3_error(404, "NoSuchPublicAccessBlockConfiguration"):
        alice.get_public_access_block(Bucket=bucket)
    alice.put_bucket_policy(Bucket=bucket, Policy=public)
    assert requests.get(f"{url}/{bucket}/data/one", timeout=10).status_code == 200
