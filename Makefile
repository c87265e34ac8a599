SHELL := /bin/bash
# Stowage — the two commands a fresh machine needs are `make serve` and `make test`.
# Both install what is missing first (Debian packages need root, as on CI).

SWIFT        ?= swift
DATA         ?= ./data
PORT         ?= 9000
APT_PACKAGES := liblmdb-dev libxxhash-dev libisal-dev pkg-config librados-dev
# The engines cluster mode runs on (issue 14), from Debian: etcd 3.4, Ceph 16.2.
CLUSTER_APT  := etcd-server etcd-client ceph-mon ceph-osd ceph-common
E2E_APT      := s3cmd rclone curl openssl
BENCH_APT    := iperf3
# The side by side's peers: nginx (the HTTP floor) and Ceph's RADOS Gateway on a one-OSD cluster.
BENCH_PEERS_APT := nginx radosgw ceph-mon ceph-osd ceph-common
BENCH_TLS_APT := wrk
PYTHON       ?= python3
SOAK_CYCLES  ?= 50
# Small segments and a compaction pass every second, so kills also land mid-compaction.
SOAK_SERVE_ARGS ?= --segment-size 8 --compaction-interval 1 --compaction-threshold 0.3

.PHONY: deps deps-e2e deps-cluster build build-tests release test test-swift test-e2e test-cluster soak serve clean \
        bench-deps bench-compare bench-memory bench-large bench-commit bench fuzz fuzz-build fuzz-merge cluster cluster-up cluster-down soak-cluster bench-cluster bench-tls bench-sse bench-wrk

define apt_install_missing
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
endef

# The C libraries the package links: liblmdb, libxxhash, ISA-L.
deps:
	$(call apt_install_missing,$(APT_PACKAGES))

# The real clients the end-to-end suite drives.
deps-e2e: deps
	$(call apt_install_missing,$(E2E_APT))
	@$(PYTHON) -c 'import boto3, botocore, pytest, requests, awscli, prometheus_client' 2>/dev/null && command -v aws >/dev/null || \
	  $(PYTHON) -m pip install -q -r Tests/e2e/requirements.txt

# etcd members and Ceph daemons for cluster mode.
deps-cluster: deps-e2e
	$(call apt_install_missing,$(CLUSTER_APT))

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Builds, failing on any warning in Stowage's own code (dependencies may warn).
build-tests: deps
	@out=$$(mktemp); $(SWIFT) build --build-tests 2>&1 | tee $$out; status=$${PIPESTATUS[0]}; \
	if [ $$status -ne 0 ]; then rm -f $$out; exit $$status; fi; \
	if grep -E '^/.*/(Sources|Tests)/.*warning:' $$out | grep -v '/.build/'; then \
	  echo "warnings in Stowage's own code (treated as errors)"; rm -f $$out; exit 1; fi; rm -f $$out

# The engine's mutation suites run twice: over LMDB, and over the conflict-injecting
# optimistic index of the tests (the index seam's re-run rule, issue 13). keyLimitEdge's
# 100,001 keys take minutes there in a debug build; it runs over LMDB only.
OPTIMISTIC_SUITES := ObjectTests|RenameTests|ConditionalTests|CopyTests|MultipartTests|PrefixRenameTests|ListTests|BucketTests|ReservationTests|VersioningTests|EncryptionTests|UsersTests|AccessControlTests
test-swift: build-tests
	$(SWIFT) test --skip-build
	STOWAGE_TEST_INDEX=optimistic $(SWIFT) test --skip-build --filter 'StowageTests\.($(OPTIMISTIC_SUITES))' --skip keyLimitEdge

# The real `stowage` binary on a free loopback port, driven by boto3, the aws CLI,
# s3cmd and rclone.
test-e2e: build-tests deps-e2e
	STOWAGE_BIN=$(CURDIR)/.build/debug/stowage $(PYTHON) -m pytest Tests/e2e -q -p no:cacheprovider

# Cluster mode (issue 14): a real local cluster — 3 etcd members, a Ceph monitor and 3
# bluestore OSDs (pool size 3, min_size 2), 2 gateways — started by scripts/cluster.sh;
# the cluster suite, then every end-to-end suite of the S3 API with boto3's requests alternating
# between the gateways; the cluster is stopped whatever happens.
# The engine's mutation suites over the real etcd too, but for the four that take minutes
# there (over 10,000 keys, or thousands of rename cycles under readers; they run over
# LMDB and the optimistic index) — and a 10,000-key prefix rename is above the test
# cluster's --max-txn-ops (TEST_MAX_TXN_OPS) by design: test_cluster checks that refusal.
ETCD_SKIP := keyLimitEdge|tenThousandKeysMove|atomicUnderConcurrentReaders|atomicVisibility
# Over the cluster run the e2e suites whose behaviour goes through the seams — objects,
# renames, conditions, copies, multipart, listings, buckets, prefix renames, versions,
# locks, tags, large bodies — and one to three tests of each thing kept in the index
# (users' keys on every gateway, encryption, policies, ACLs, CORS, POST). Races across
# gateways are Tests/cluster's own (test_concurrency's many-client races and hammer run
# over the embedded store). The suites about signatures, wire promises, abuse and the
# CLIs' flags test code above the seams that is the same in both modes; they run over the
# embedded store (`make test-e2e`). Not the ones about a data directory (fsck, compaction, a full disk,
# crash soak) nor test_memory's 1 GiB.
CLUSTER_E2E := test_objects.py test_rename.py test_conditional.py test_copy.py test_multipart.py test_listing.py \
  test_buckets.py test_prefix_rename.py test_large.py test_versioning.py test_object_lock.py test_tagging.py \
  test_cli_rclone.py test_users.py::test_a_second_user_is_refused_on_the_first_users_bucket \
  test_users.py::test_a_deleted_key_is_refused_everywhere_within_seconds \
  test_encryption.py::test_sse_s3_bytes_are_encrypted_at_rest_and_read_back test_encryption.py::test_sse_kms_with_the_key_store \
  test_encryption.py::test_bucket_default_encryption test_encryption.py::test_rename_and_same_encryption_copy_write_no_byte \
  test_policies.py::test_a_policy_grants_read_and_nothing_more test_policies.py::test_a_public_read_bucket_serves_unsigned_gets_only \
  test_acl.py::test_a_public_read_object_is_fetched_by_an_unsigned_get test_acl.py::test_rename_keeps_the_acl_and_copy_does_not \
  test_acl.py::test_grants_by_header_and_by_document test_cors.py::test_preflight_from_an_allowed_origin \
  test_cors.py::test_configuration_goes_with_the_bucket test_post_object.py::test_a_users_key_works_on_its_own_bucket_only
# The test cluster's etcd takes 512 operations per transaction (--max-txn-ops), so the
# cluster suite reaches the limit with a few hundred keys (Tests/cluster reads it).
TEST_MAX_TXN_OPS := 512
TEST_CLUSTER_DIR ?= $(CURDIR)/.cluster-test
test-cluster: build-tests deps-cluster
	@$(CURDIR)/scripts/cluster.sh down $(TEST_CLUSTER_DIR)
	@set -e; trap '$(CURDIR)/scripts/cluster.sh down $(TEST_CLUSTER_DIR)' EXIT; \
	  STOWAGE_BIN=$(CURDIR)/.build/debug/stowage DELETION_GRACE=2 MAX_TXN_OPS=$(TEST_MAX_TXN_OPS) \
	    $(CURDIR)/scripts/cluster.sh up $(TEST_CLUSTER_DIR); \
	  STOWAGE_E2E_CLUSTER=$(TEST_CLUSTER_DIR)/cluster.env $(PYTHON) -m pytest Tests/cluster -q -p no:cacheprovider; \
	  (cd Tests/e2e && STOWAGE_E2E_CLUSTER=$(TEST_CLUSTER_DIR)/cluster.env $(PYTHON) -m pytest $(CLUSTER_E2E) -q -p no:cacheprovider); \
	  source $(TEST_CLUSTER_DIR)/cluster.env && STOWAGE_TEST_INDEX=etcd STOWAGE_TEST_ETCD=$$STOWAGE_ETCD \
	    $(SWIFT) test --skip-build --filter 'StowageTests\.($(OPTIMISTIC_SUITES))' --skip '$(ETCD_SKIP)'

# The cluster's faults at length: every OSD, etcd member and gateway SIGKILLed in turn
# under a mixed load, SOAK_CLUSTER_ROUNDS times each, every acknowledged write checked.
SOAK_CLUSTER_ROUNDS ?= 10
soak-cluster: build-tests deps-cluster
	@$(CURDIR)/scripts/cluster.sh down $(TEST_CLUSTER_DIR)
	@set -e; trap '$(CURDIR)/scripts/cluster.sh down $(TEST_CLUSTER_DIR)' EXIT; \
	  STOWAGE_BIN=$(CURDIR)/.build/debug/stowage DELETION_GRACE=2 $(CURDIR)/scripts/cluster.sh up $(TEST_CLUSTER_DIR); \
	  STOWAGE_E2E_CLUSTER=$(TEST_CLUSTER_DIR)/cluster.env STOWAGE_FAULT_ROUNDS=$(SOAK_CLUSTER_ROUNDS) \
	    $(PYTHON) -m pytest Tests/cluster/test_faults.py -q -s -p no:cacheprovider

# Embedded vs a local cluster, side by side in one run (docs/BENCHMARKS.md).
bench-cluster: release deps-cluster
	$(PYTHON) Benchmarks/http/bench_cluster.py --binary $(CURDIR)/.build/release/stowage

# Every test.
test: test-swift test-e2e test-cluster

# A local cluster for people: started, its endpoints and credentials printed. Stop it
# with `make cluster-down`. Scripts use `make cluster-up CLUSTER_DIR=D` (D/cluster.env).
CLUSTER_DIR ?= $(CURDIR)/.cluster
cluster: cluster-up
cluster-up: build deps-cluster
	STOWAGE_BIN=$(CURDIR)/.build/debug/stowage $(CURDIR)/scripts/cluster.sh up $(CLUSTER_DIR)
cluster-down:
	$(CURDIR)/scripts/cluster.sh down $(CLUSTER_DIR)

# Crash safety: SIGKILLs the real server $(SOAK_CYCLES) times under a mixed workload and
# checks every acknowledged write after each restart, and fsck (Tests/soak/soak.py).
# `make test` runs a 3-cycle version (Tests/e2e/test_soak.py).
soak: build deps-e2e
	STOWAGE_BIN=$(CURDIR)/.build/debug/stowage $(PYTHON) Tests/soak/soak.py --cycles $(SOAK_CYCLES) \
	  --serve-args "$(SOAK_SERVE_ARGS)"

# Builds in release mode and serves ./data on 127.0.0.1:$(PORT) with development
# credentials (printed at start-up). Ctrl-C stops it cleanly.
# A development master key (SSE-S3, SSE-KMS), made once beside the data directory.
MASTER_KEY   ?= ./master.key
serve: release
	@[ -s $(MASTER_KEY) ] || (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > $(MASTER_KEY); \
	  echo "made a development master key in $(MASTER_KEY): keep it, or SSE-S3/SSE-KMS objects cannot be read")
	.build/release/stowage serve --data $(DATA) --port $(PORT) --master-key-file $(MASTER_KEY)

# What `make bench-compare` needs besides the build: moto's S3 server (the store compared
# against), matplotlib (the plot), iperf3 (the loopback reference), nginx and radosgw (the
# side by side's peers).
bench-deps: deps-e2e
	$(call apt_install_missing,$(BENCH_APT) $(BENCH_PEERS_APT))
	@$(PYTHON) -c 'import moto.server, flask, flask_cors, matplotlib' 2>/dev/null || \
	  $(PYTHON) -m pip install -q -r Benchmarks/http/requirements.txt

# Stowage (--durability strict) and moto's S3 server side by side over HTTP, in one run,
# with rename(2), cp+rm and the machine's disk, MD5 and loopback rates as references.
# Writes docs/bench/compare.csv, compare-tables.md and rename-latency.png (about 5 min
# after the build; QUICK=1: small sizes and short phases, outputs in .bench-tmp/quick/).
# Then `stowage bench` drives Stowage strict and relaxed, moto, radosgw (where it starts)
# and nginx (static files) side by side: docs/bench/side-by-side.{json,md,png} (about 8 min).
bench-compare: release bench-deps
	STOWAGE_BIN=$(CURDIR)/.build/release/stowage QUICK=$(QUICK) $(PYTHON) Benchmarks/http/compare.py
	STOWAGE_BIN=$(CURDIR)/.build/release/stowage QUICK=$(QUICK) $(PYTHON) Benchmarks/http/bench_side.py

# HTTPS beside plain HTTP in one run (docs/BENCHMARKS.md): two relaxed servers, one with
# --tls-cert/--tls-key, measured with wrk over presigned GETs, alternating, median of 3
# rounds. Writes docs/bench/tls.json (about 3 min after the build).
# Encryption at rest beside plain objects (rename, copy, GET, PUT): docs/bench/sse.json.
# The server's peak resident memory under 64 concurrent 1 GiB GETs and 64 concurrent PUTs
# (each as large as the free disk allows, up to 1 GiB), driven by `stowage bench`, each
# phase on a fresh strict server: docs/bench/memory.json (about 5 min after the build;
# 64 × 1 GiB of uploads need that much free disk, less is measured when there is less).
bench-memory: release
	$(PYTHON) Benchmarks/http/bench_memory.py --binary $(CURDIR)/.build/release/stowage --out docs/bench/memory.json

# Issue 18's large-object targets beside their references in one run: PUT and GET of 1 GiB
# over one stream and a 4-stream multipart PUT, against one core's MD5 rate, the disk's
# (dd + fdatasync) and nginx sending the same file: docs/bench/large.json (about 3 min).
bench-large: release bench-deps
	$(PYTHON) Benchmarks/http/bench_large.py --binary $(CURDIR)/.build/release/stowage --out docs/bench/large.json

# What a strict PUT pays for its syncs, beside a relaxed one (docs/BENCHMARKS.md): 4 KiB
# PUTs at 64 and 256 connections, fresh data directories, the modes alternating; server CPU
# per PUT by thread, the group commit's batches, the machine's idle share:
# docs/bench/commit.json (about 1 min after the build).
bench-commit: release bench-deps
	$(PYTHON) Benchmarks/http/bench_commit.py --binary $(CURDIR)/.build/release/stowage --out docs/bench/commit.json

bench-sse: release deps-e2e
	$(PYTHON) Benchmarks/http/bench_sse.py --binary $(CURDIR)/.build/release/stowage

bench-tls: release deps-e2e
	$(call apt_install_missing,$(BENCH_TLS_APT))
	$(PYTHON) Benchmarks/http/bench_tls.py --binary $(CURDIR)/.build/release/stowage

# Issue 18's targets the way its baseline was measured: wrk (2 threads) on presigned URLs,
# nginx, the Hummingbird and NIO floors and Stowage strict and relaxed in one run,
# alternating, median of 3 rounds; every object read back and checked after the PUTs:
# docs/bench/wrk.json (about 4 min after the build).
bench-wrk: release bench-deps
	$(call apt_install_missing,$(BENCH_TLS_APT))
	$(PYTHON) Benchmarks/http/bench_wrk.py --binary $(CURDIR)/.build/release/stowage --out docs/bench/wrk.json

# The engine micro-benchmarks (ordo-one/package-benchmark, Benchmarks/StowageEngine): in
# process, release build, each named with its durability mode. Not part of `make test`.
# The benchmark package is a dependency only when STOWAGE_BENCHMARKS is set, built in its
# own folder. Writes docs/bench/engine.txt. BENCH_FILTER=regex runs a subset.
BENCH_FILTER ?= .*
bench: deps
	@mkdir -p docs/bench
	set -o pipefail; STOWAGE_BENCHMARKS=1 $(SWIFT) package --scratch-path .build-bench benchmark \
	  --filter '$(BENCH_FILTER)' --no-progress | tee docs/bench/engine.txt

# Coverage-guided fuzzing with libFuzzer (Swift's -sanitize=fuzzer; linked with lld, as
# gold crashes on the fuzzer runtime): each target in
# StowageS3's FuzzTargets for FUZZ_SECONDS, starting from Tests/Fuzz/corpus/<target> (which
# `make test` replays). New inputs go to .build-fuzz/corpus, crashes to
# .build-fuzz/artifacts; `make fuzz-merge` adds the inputs that bring new coverage to the
# repository's corpus.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := sigv4 sigv2 headers range aws-chunked xml-delete xml-complete records policy
FUZZ_BIN     := .build-fuzz/debug/StowageFuzz
fuzz-build: deps
	STOWAGE_FUZZ=1 $(SWIFT) build --scratch-path .build-fuzz --product StowageFuzz \
	  -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld

fuzz: fuzz-build
	@mkdir -p .build-fuzz/artifacts
	@set -e; for t in $(FUZZ_TARGETS); do mkdir -p .build-fuzz/corpus/$$t; \
	  echo "== $$t: $(FUZZ_SECONDS) s"; \
	  if ! SWIFT_BACKTRACE=enable=no STOWAGE_FUZZ_TARGET=$$t $(FUZZ_BIN) .build-fuzz/corpus/$$t Tests/Fuzz/corpus/$$t \
	      -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
	      -artifact_prefix=.build-fuzz/artifacts/$$t- -print_final_stats=1 > .build-fuzz/$$t.log 2>&1; then \
	    tail -n 40 .build-fuzz/$$t.log; echo "fuzz target $$t failed: see .build-fuzz/$$t.log and .build-fuzz/artifacts"; exit 1; fi; \
	  grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE' .build-fuzz/$$t.log | tail -n 3; done

fuzz-merge: fuzz-build
	@for t in $(FUZZ_TARGETS); do STOWAGE_FUZZ_TARGET=$$t $(FUZZ_BIN) -merge=1 Tests/Fuzz/corpus/$$t .build-fuzz/corpus/$$t 2>&1 | tail -n 1; done

clean:
	rm -rf .build .build-bench .build-fuzz
