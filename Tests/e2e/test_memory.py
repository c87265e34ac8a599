"""Bodies stream both ways: a 1 GiB upload and download through the real server keep its
resident memory bounded (issue: under 256 MiB), whatever the object's size."""

import hashlib
import io
import threading
import time

SIZE_BYTES = 1 << 30
BLOCK = bytes(range(256)) * 4096          # 1 MiB of a fixed pattern
LIMIT_BYTES = 256 << 20


class PatternStream(io.RawIOBase):
    """`size` bytes of a repeating pattern, generated on the fly (the client never holds
    more than a block); seekable, since botocore reads the body once for its checksum."""

    def __init__(self, size):
        self.size = size
        self.position = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.position

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = base + offset
        return self.position

    def readinto(self, buffer):
        start = self.position % len(BLOCK)
        n = min(len(buffer), self.size - self.position, len(BLOCK) - start)
        buffer[:n] = BLOCK[start:start + n]
        self.position += n
        return n


class PeakRSS:
    """Samples the server's VmRSS every 20 ms in a thread; `peak` is the largest seen."""

    def __init__(self, pid):
        self.path = f"/proc/{pid}/status"
        self.peak = 0
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)

    def sample(self):
        with open(self.path) as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS line")

    def run(self):
        while self.running:
            self.peak = max(self.peak, self.sample())
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()


def test_one_gib_streams_with_bounded_memory(s3, bucket, s3_endpoint):
    pid = s3_endpoint.pid
    expected = hashlib.md5()
    for _ in range(SIZE_BYTES // len(BLOCK)):
        expected.update(BLOCK)

    with PeakRSS(pid) as upload:
        s3.put_object(Bucket=bucket, Key="huge", Body=PatternStream(SIZE_BYTES),
                      ContentLength=SIZE_BYTES)
    assert s3.head_object(Bucket=bucket, Key="huge")["ETag"] == f'"{expected.hexdigest()}"'

    received = hashlib.md5()
    count = 0
    with PeakRSS(pid) as download:
        body = s3.get_object(Bucket=bucket, Key="huge")["Body"]
        while piece := body.read(8 << 20):
            received.update(piece)
            count += len(piece)
    assert count == SIZE_BYTES
    assert received.hexdigest() == expected.hexdigest()
    assert upload.peak < LIMIT_BYTES, f"upload peak RSS {upload.peak >> 20} MiB"
    assert download.peak < LIMIT_BYTES, f"download peak RSS {download.peak >> 20} MiB"
    s3.delete_object(Bucket=bucket, Key="huge")


CONCURRENT_READERS = 32
CONCURRENT_OBJECT_BYTES = 64 << 20
# Per reader: a chunk being copied, about one queued behind it and the socket's watermark.
CONCURRENT_GROWTH_LIMIT_BYTES = 192 << 20


def test_concurrent_downloads_keep_memory_bounded(s3_endpoint, bucket_name_factory):
    """Issue 18, point 4: many readers of large objects at once. Each GET's writes reach
    the connection through its event loop; without the body waiting for that loop now and
    then, a busy loop let every reader queue chunks far ahead of the socket (64 readers of
    1 GiB held 2.4 GiB). Driven by `stowage bench`, which checks every byte it reads."""
    from test_bench import run_bench
    pid = s3_endpoint.pid
    bucket = bucket_name_factory("memory")
    # The object first (one PUT), then the readers, so that the peak is theirs.
    status, _, output = run_bench(s3_endpoint.url, s3_endpoint, bucket, "--mix", "get", "--objects", "1",
                                  "--concurrency", "1", "--count", "1", "--obj-size", str(CONCURRENT_OBJECT_BYTES))
    assert status == 0, output
    with PeakRSS(pid) as idle:
        time.sleep(0.1)
    baseline = idle.peak
    with PeakRSS(pid) as readers:
        status, report, output = run_bench(s3_endpoint.url, s3_endpoint, bucket, "--mix", "get", "--no-setup",
                                           "--objects", "1", "--concurrency", str(CONCURRENT_READERS),
                                           "--count", str(2 * CONCURRENT_READERS),
                                           "--obj-size", str(CONCURRENT_OBJECT_BYTES))
    assert status == 0, output
    assert report["operations"]["get"]["ops"] >= CONCURRENT_READERS and report["verify_errors"] == 0, output
    growth = readers.peak - baseline
    assert growth < CONCURRENT_GROWTH_LIMIT_BYTES, \
        f"{CONCURRENT_READERS} readers of {CONCURRENT_OBJECT_BYTES >> 20} MiB grew the server by {growth >> 20} MiB"
