#!/usr/bin/env bash
# `make demo`: scrub a bundled real Kubernetes audit log through the Fluent Bit
# filter ABI (in the wasmtime harness), show records before/after, then run
# the DP aggregation over a generated audit log and print its releases.
set -euo pipefail
HARNESS=$1
WASM=$2
DIR=$3
SAMPLE=tests/data/k8s/sample.jsonl
POLICY=fluent-bit/dp-audit.json

"$HARNESS" fluent-bit --wasm "$WASM" --policy "$POLICY" --key-file "$DIR/dp-audit.key" --fuel \
  < "$SAMPLE" > "$DIR/scrubbed.jsonl" 2> "$DIR/scrub.log"
echo "== dp-audit: scrubbed $(wc -l < "$SAMPLE") real K8s audit events ($SAMPLE) with $POLICY"
echo "   output: $DIR/scrubbed.jsonl; $(grep 'fuel/record' "$DIR/scrub.log" || true)"
python3 - "$SAMPLE" "$DIR/scrubbed.jsonl" <<'PY'
import json, sys
before = [json.loads(l) for l in open(sys.argv[1])]
after = [json.loads(l) for l in open(sys.argv[2])]
fields = ["user", "impersonatedUser", "sourceIPs", "requestURI", "responseStatus", "annotations", "requestObject"]
def interesting(e):
    msg = json.dumps(e)
    return ('User \\"' in msg or "@" in msg) and "sourceIPs" in e
shown = 0
for b, a in zip(before, after):
    if shown >= 3 or not interesting(b):
        continue
    shown += 1
    print(f"\n--- record {before.index(b) + 1}: before")
    print(json.dumps({k: b[k] for k in fields if k in b}, indent=2)[:1500])
    print("--- after")
    print(json.dumps({k: a[k] for k in fields if k in a}, indent=2)[:1500])
PY
