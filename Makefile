SHELL := /bin/bash
# Stowage — the two commands a fresh machine needs are `make serve` and `make test`.
# Both install what is missing first (Debian packages need root, as on CI).

SWIFT        ?= swift
DATA         ?= ./data
APT_PACKAGES := liblmdb-dev libxxhash-dev libisal-dev pkg-config
E2E_APT      := s3cmd rclone
PIP_PACKAGES := boto3 awscli pytest requests

.PHONY: deps deps-e2e build test test-swift test-e2e serve release clean

# Installs the C libraries the package links (liblmdb, libxxhash, ISA-L) when missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; apt-get update -qq && apt-get install -y -qq $$missing; fi

build: deps
	$(SWIFT) build

# Every test: the Swift suites, then (once the server exists) the end-to-end clients.
test: deps
	@out=$$(mktemp); $(SWIFT) build --build-tests 2>&1 | tee $$out; status=$${PIPESTATUS[0]}; \
	if [ $$status -ne 0 ]; then rm -f $$out; exit $$status; fi; \
	if grep -E '^/.*/(Sources|Tests)/.*warning:' $$out; then echo "warnings in Stowage's own code (treated as errors)"; rm -f $$out; exit 1; fi; rm -f $$out
	$(SWIFT) test --skip-build

clean:
	rm -rf .build
