#!/usr/bin/env bash
# `make demo`: scrub a bundled real Kubernetes audit log through the Fluent Bit
# filter ABI (in the wasmtime harness), show records before/after, then run
# the DP aggregation over a generated audit log and print its releases.
set -euo pipefail
HARNESS=$1
WASM=$2
DIR=$3
CORPUS=$4
SAMPLE=tests/data/k8s/sample.jsonl
POLICY=fluent-bit/dp-audit.json

"$HARNESS" fluent-bit --wasm "$WASM" --policy "$POLICY" --key-file "$DIR/dp-audit.key" --fuel \
  --stack-size 256K < "$SAMPLE" > "$DIR/scrubbed.jsonl" 2> "$DIR/scrub.log"
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

# DP release: a generated audit log (the project's own generator, 24,000
# events over ten minutes) through the dp_aggregate export.
"$CORPUS" k8s --events 24000 --seed 7 > "$DIR/generated.jsonl"
"$HARNESS" fluent-bit --wasm "$WASM" --policy "$POLICY" --key-file "$DIR/dp-audit.key" \
  --function dp_aggregate --time-key requestReceivedTimestamp --stack-size 256K \
  < "$DIR/generated.jsonl" > "$DIR/releases.jsonl" 2> "$DIR/aggregate.log"
echo
echo "== DP release: noisy request counts per minute by verb and status class ($POLICY, aggregate section)"
echo "   input: $DIR/generated.jsonl; releases: $DIR/releases.jsonl"
python3 - "$DIR/releases.jsonl" <<'PY'
import json, sys
rows = [r for line in open(sys.argv[1]) for r in json.loads(line)["dp_audit_releases"]]
if not rows:
    sys.exit("no release: see the aggregate log")
starts = sorted({r["window_start"] for r in rows if "dp_release" in r})
# Show a full window: the one with the largest released total.
best = max(starts, key=lambda s: sum(r["value"] for r in rows if r.get("window_start") == s and "dp_release" in r))
window = [r for r in rows if r["window_start"] == best and "dp_release" in r]
r0 = window[0]
print(f"window {r0['window_start']} .. {r0['window_end']}, {r0['mechanism']} noise (scale {r0['scale']}), "
      f"epsilon {r0['epsilon']} per window, privacy unit: {r0['privacy_unit']}")
print(f"{'verb':<8} {'status':<7} {'noisy count':>11}   95% CI")
for r in window:
    if r["value"] or r["group"]["status_class"] == "2xx":
        g = r["group"]
        print(f"{g['verb']:<8} {g['status_class']:<7} {r['value']:>11}   [{r['ci95'][0]}, {r['ci95'][1]}]")
last = rows[-1]
print(f"{len({r['window_start'] for r in rows})} windows released; budget remaining for "
      f"{last['budget_period_start'][:10]}: epsilon {last['budget_remaining']['epsilon']}")
PY
