// A strict TypeScript consumer of the npm package. `tsc` checks that the
// declarations in pkg/dp_audit.d.ts are valid and usable under the strictest
// common settings; running the compiled file checks that what the module
// returns has exactly the declared shape: each `Spec` below must list every
// key its interface declares (the compiler refuses a missing or extra one,
// and an optional key written as required), and `checkShape` refuses a
// returned key that the interface does not declare, a missing required one
// or a value of another type.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  Aggregator,
  BudgetExhaustedRecord,
  calibrate,
  Calibration,
  DpAuditState,
  DpRecord,
  ReleaseInfo,
  ReleaseRecord,
  RuleInfo,
  Scrubber,
} from "../pkg/dp_audit";

type Kind = "string" | "number" | "boolean" | "object" | "array" | "null";
/** A key's runtime kinds (`a|b` for unions); optional keys as `{ optional }`. */
type KindSpec = Kind | `${Kind}|${Kind}`;
type Spec<T> = {
  [K in keyof T]-?: {} extends Pick<T, K> ? { optional: KindSpec } : KindSpec;
};

function fail(msg: string): never {
  throw new Error(msg);
}

function kindOf(v: unknown): Kind | "undefined" {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  const t = typeof v;
  return t === "string" || t === "number" || t === "boolean" || t === "object" ? t : "undefined";
}

function checkShape(name: string, value: unknown, spec: Record<string, KindSpec | { optional: KindSpec }>): void {
  if (kindOf(value) !== "object") fail(`${name}: not an object`);
  const obj = value as Record<string, unknown>;
  for (const k of Object.keys(obj)) if (!(k in spec)) fail(`${name}: key "${k}" is not declared`);
  for (const [k, s] of Object.entries(spec)) {
    const optional = typeof s === "object";
    const kinds = (optional ? s.optional : s).split("|");
    if (!(k in obj)) {
      if (!optional) fail(`${name}: declared key "${k}" missing`);
      continue;
    }
    const got = kindOf(obj[k]);
    if (!kinds.includes(got)) fail(`${name}.${k}: ${got}, declared ${kinds.join("|")}`);
  }
}

/** Every member of a string-literal union, enforced complete by the compiler. */
function checkMember<T extends string>(name: string, value: string, all: Record<T, true>): void {
  if (!(value in all)) fail(`${name}: "${value}" is not one of the declared ${Object.keys(all).join(", ")}`);
}

const ruleInfo: Spec<RuleInfo> = { rule: "string|null", index: "number|null", action: "string", origin: "string" };
const actions: Record<RuleInfo["action"], true> = {
  keep: true, drop: true, redact: true, pseudonymize: true, truncate_ip: true,
  generalize_time: true, mask: true, email: true, detect: true,
};
const origins: Record<RuleInfo["origin"], true> = { preset: true, user: true, default: true };
const releaseRecord: Spec<ReleaseRecord> = {
  dp_release: "string", window_start: "string", window_end: "string", group: "object",
  value: "number", ci95: "array", mechanism: "string", scale: "string",
  epsilon: { optional: "string" }, rho: { optional: "string" }, privacy_unit: "string",
  partition_selection: { optional: "object" }, budget_period_start: "string",
  budget_spent: "object", budget_remaining: "object",
};
const releaseInfo: Spec<ReleaseInfo> = {
  name: "string", kind: "string", mechanism: "string", epsilon: { optional: "number" },
  rho: { optional: "number" }, sensitivity: "number", scale: "number", ci95_halfwidth: "number",
};
const calibration: Spec<Calibration> = {
  mechanism: "string", sensitivity: "number", confidence: "number", epsilon: { optional: "number" },
  rho: { optional: "number" }, delta: { optional: "number" }, scale: { optional: "number" },
  halfwidth: "number",
};
const budgetExhausted: Spec<BudgetExhaustedRecord> = {
  dp_budget_exhausted: "string", window_start: "string", window_end: "string", windows: "number",
  needed: "object", budget_period_start: "string", remaining: "object",
};
// Nested objects.
const cost: Spec<BudgetExhaustedRecord["needed"]> = { epsilon: "string", rho: "string", delta: "string" };
const remaining: Spec<BudgetExhaustedRecord["remaining"]> = { epsilon: "string", delta: "string" };
const spent: Spec<ReleaseRecord["budget_spent"]> = { epsilon: "string", rho: "string", delta: "string" };
const left: Spec<ReleaseRecord["budget_remaining"]> = { epsilon: "string", delta: "string" };
const selection: Spec<NonNullable<ReleaseRecord["partition_selection"]>> = {
  epsilon: "string", delta: "string", threshold: "number",
};
const mechanisms: Record<ReleaseRecord["mechanism"], true> = { laplace: true, gaussian: true };

const key = readFileSync(join(__dirname, "..", "test", "fixtures", "test.key"), "utf8");

// Scrubbing.
const scrubPolicy = JSON.stringify({ preset: "k8s-audit" });
const scrubber = new Scrubber(scrubPolicy, key);
const needsKey: boolean = scrubber.needsKey;
if (!needsKey) fail("the k8s-audit preset pseudonymizes: needsKey should be true");
const out: string | undefined = scrubber.scrub('{"user":{"username":"alice@example.com"},"verb":"get"}');
if (out === undefined || out.includes("alice@example.com")) fail("scrub: the username left unscrubbed");
const many: string = scrubber.scrubMany('{"verb":"get"}\n\n{"verb":"list"}\n');
if (many.split("\n").length !== 3) fail("scrubMany: two records and a final newline expected");
for (const path of [["user", "username"], ["sourceIPs", 0], ["no_such_field"]] as (string | number)[][]) {
  const info: RuleInfo = scrubber.explain(path);
  checkShape(`explain(${JSON.stringify(path)})`, info, ruleInfo);
  checkMember("RuleInfo.action", info.action, actions);
  checkMember("RuleInfo.origin", info.origin, origins);
}
const dropPolicy = JSON.stringify({ preset: "k8s-audit", on_error: "drop" });
const dropped: string | undefined = new Scrubber(dropPolicy, key).scrub("not json");
if (dropped !== undefined) fail('scrub with "on_error": "drop" should give undefined for invalid JSON');
scrubber[Symbol.dispose]();

// Aggregation over a caller-supplied state, until the budget runs out.
class MapState implements DpAuditState {
  private entries = new Map<string, { value: string; cas: number }>();
  get(key: string): { value: string; cas: number } | null {
    return this.entries.get(key) ?? null;
  }
  set(key: string, value: string, cas: number | null): boolean {
    const cur = this.entries.get(key);
    if ((cur === undefined ? null : cur.cas) !== cas) return false;
    this.entries.set(key, { value, cas: (cur?.cas ?? 0) + 1 });
    return true;
  }
}
const aggPolicy = JSON.stringify({
  preset: "k8s-audit",
  fields: [{ path: "bytes", action: "keep" }],
  aggregate: {
    window: "1m",
    allowed_lateness: "0s",
    time_field: "requestReceivedTimestamp",
    privacy_unit: { type: "user", field: "user.username" },
    bounds: { max_groups_per_unit: 2, max_contributions_per_group: 1 },
    budget: { period: "1d", epsilon: 4, delta: 1e-5, ledger_key: "dp-audit/ledger" },
    releases: [
      { name: "by_verb", kind: "count", mechanism: "laplace", epsilon: 0.5,
        group_by: [{ field: "verb" }], domains: { verb: ["get", "list"] } },
      { name: "bytes_by_user_agent", kind: "sum", field: "bytes", clamp: [0, 1000], mechanism: "gaussian",
        rho: 0.02, group_by: [{ field: "userAgent" }], partition_selection: { epsilon: 1, delta: 1e-7 } },
    ],
  },
});
const state = new MapState();
const agg = new Aggregator(aggPolicy, key, state);
for (const r of agg.releases()) {
  checkShape(`releases() ${r.name}`, r, releaseInfo);
}
const t0 = Date.parse("2024-05-01T12:00:00Z") / 1000;
const records: DpRecord[] = [];
for (let minute = 0; minute < 6; minute++) {
  // 150 users a minute: well above the partition selection's threshold (69).
  for (let i = 0; i < 150; i++) {
    const t = t0 + minute * 60 + Math.floor((i * 60) / 150);
    const line = JSON.stringify({
      verb: i % 2 === 0 ? "get" : "list",
      user: { username: `user${i}@example.com` },
      userAgent: "kubectl/v1.30",
      bytes: 100 + i,
      requestReceivedTimestamp: new Date(t * 1000).toISOString(),
    });
    records.push(...agg.ingest(line, t));
  }
}
const next: number | undefined = agg.nextCloseAt;
if (next === undefined) fail("an open window should have a closing time");
const snapshot: string = agg.snapshot();
const resumed: Aggregator = Aggregator.restore(aggPolicy, key, snapshot, state);
records.push(...resumed.flush());
const counters: Record<string, number> = resumed.counters();
for (const [k, v] of Object.entries(counters)) {
  if (typeof v !== "number") fail(`counters().${k}: ${typeof v}`);
}

let released = 0;
let exhausted = 0;
let selected = 0;
for (const r of records) {
  // The union is told apart by its marker key, as a consumer would.
  if ("dp_release" in r) {
    const rel: ReleaseRecord = r;
    checkShape(`release ${rel.dp_release}`, rel, releaseRecord);
    checkShape("release budget_spent", rel.budget_spent, spent);
    checkShape("release budget_remaining", rel.budget_remaining, left);
    if (rel.partition_selection !== undefined) {
      checkShape("release partition_selection", rel.partition_selection, selection);
      selected++;
    }
    checkMember("ReleaseRecord.mechanism", rel.mechanism, mechanisms);
    if (rel.ci95.length !== 2) fail("ci95: two bounds expected");
    for (const [k, v] of Object.entries(rel.group)) {
      if (v !== null && typeof v !== "string") fail(`group.${k}: ${typeof v}`);
    }
    released++;
  } else if ("dp_budget_exhausted" in r) {
    const ex: BudgetExhaustedRecord = r;
    checkShape(`exhausted ${ex.dp_budget_exhausted}`, ex, budgetExhausted);
    checkShape("exhausted needed", ex.needed, cost);
    checkShape("exhausted remaining", ex.remaining, remaining);
    exhausted++;
  } else {
    fail(`unexpected record ${JSON.stringify(Object.keys(r))}`);
  }
}
// by_verb costs 0.5 a window, the Gaussian release about 1.1 in (epsilon,
// delta) terms: the budget of 4 pays for some windows, not all six.
if (released === 0 || exhausted === 0 || selected === 0) {
  fail(`expected releases (some by partition selection) and exhaustion, got ${released} (${selected}) and ${exhausted}`);
}

// Calibration, both directions.
const c1: Calibration = calibrate({ mechanism: "laplace", epsilon: 0.5, sensitivity: 1 });
const c2: Calibration = calibrate({ mechanism: "gaussian", rho: 0.5, sensitivity: 1, delta: 1e-6 });
const c3: Calibration = calibrate({ mechanism: "laplace", halfwidth: 6, sensitivity: 1 });
for (const [n, c] of [["laplace", c1], ["gaussian", c2], ["halfwidth", c3]] as const) {
  checkShape(`calibrate ${n}`, c, calibration);
}

console.log(`typecheck consumer: ${released} releases, ${exhausted} budget-exhausted records, shapes as declared`);
