#!/usr/bin/env bash
# Exact samplers natively and in wasm (wasmtime via the harness), one run:
#   bash benches/wasm_samplers.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
M=benches/wasm-samplers/Cargo.toml
cargo build -q --release --manifest-path $M
cargo build -q --release --manifest-path $M --target wasm32-wasip1
cargo build -q -p dp-audit-harness
echo "target mechanism scale ns/sample samples/s"
benches/wasm-samplers/target/release/dp-audit-wasm-samplers "$N"
target/debug/dp-audit-harness run-wasi --wasm benches/wasm-samplers/target/wasm32-wasip1/release/dp-audit-wasm-samplers.wasm -- "$N"
