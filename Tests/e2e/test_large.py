"""A 100 MiB object through boto3's transfer manager, single-part both ways (multipart
uploads are not in Stowage yet), verified by SHA-256, MD5 ETag and a ranged read."""

import hashlib
import os

from boto3.s3.transfer import TransferConfig

SIZE_BYTES = 100 * 1024 * 1024
CHUNK_BYTES = 4 * 1024 * 1024
SINGLE_PART = TransferConfig(
    multipart_threshold=1024 * 1024 * 1024,
    multipart_chunksize=1024 * 1024 * 1024,
    max_concurrency=1,
    use_threads=False,
)


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def test_100_mib_upload_and_download(s3, bucket, tmp_path):
    source = tmp_path / "large.bin"
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with open(source, "wb") as f:
        for _ in range(SIZE_BYTES // CHUNK_BYTES):
            chunk = os.urandom(CHUNK_BYTES)
            sha256.update(chunk)
            md5.update(chunk)
            f.write(chunk)

    with open(source, "rb") as f:
        s3.upload_fileobj(f, bucket, "large/object.bin", Config=SINGLE_PART)

    head = s3.head_object(Bucket=bucket, Key="large/object.bin")
    assert head["ContentLength"] == SIZE_BYTES
    assert head["ETag"] == f'"{md5.hexdigest()}"'  # single-part: the MD5 of the body

    target = tmp_path / "downloaded.bin"
    s3.download_file(bucket, "large/object.bin", str(target), Config=SINGLE_PART)
    assert target.stat().st_size == SIZE_BYTES
    assert sha256_of(target) == sha256.hexdigest()

    # A range deep inside the object, across a 4 MiB boundary.
    first = 23 * CHUNK_BYTES - 1000
    last = first + 1024 * 1024 - 1
    ranged = s3.get_object(Bucket=bucket, Key="large/object.bin", Range=f"bytes={first}-{last}")
    with open(source, "rb") as f:
        f.seek(first)
        expected = f.read(last - first + 1)
    assert ranged["ContentRange"] == f"bytes {first}-{last}/{SIZE_BYTES}"
    assert ranged["Body"].read() == expected

    s3.delete_object(Bucket=bucket, Key="large/object.bin")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
