// DP aggregation through the npm package: releases with CIs over the
// in-memory ledger and over a caller-supplied compare-and-swap state,
// budget exhaustion, and calibrate in both directions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const dp = require("..");
const key = readFileSync(join(here, "fixtures", "test.key"), "utf8");

/** A policy counting events per minute by verb and status class. */
function policy({ budget = 10, epsilon = 0.5, ledgerKey = "dp-audit/ledger" } = {}) {
  return JSON.stringify({
    preset: "k8s-audit",
    aggregate: {
      window: "1m",
      allowed_lateness: "0s",
      time_field: "requestReceivedTimestamp",
      privacy_unit: { type: "event" },
      budget: { period: "1d", epsilon: budget, delta: 1e-6, ledger_key: ledgerKey },
      releases: [
        {
          name: "by_verb",
          kind: "count",
          mechanism: "laplace",
          epsilon,
          group_by: [
            { field: "verb" },
            { field: "responseStatus.code", as: "status_class", bucket: "status_class" },
          ],
          domains: { verb: ["get", "list", "create"], status_class: ["2xx", "4xx"] },
        },
      ],
    },
  });
}

const T0 = Date.parse("2024-05-01T12:00:00Z") / 1000;

/** `n` events per minute for `minutes` minutes: verbs get/list, codes 200/404. */
function events(minutes, n) {
  const out = [];
  for (let m = 0; m < minutes; m++) {
    for (let i = 0; i < n; i++) {
      const t = T0 + m * 60 + Math.floor((i * 60) / n);
      out.push({
        t,
        line: JSON.stringify({
          verb: i % 3 === 0 ? "list" : "get",
          user: { username: `user${i % 7}@example.com` },
          responseStatus: { code: i % 5 === 0 ? 404 : 200 },
          requestReceivedTimestamp: new Date(t * 1000).toISOString(),
        }),
      });
    }
  }
  return out;
}

/** Feeds events with host time = event time (a replay), then flushes. */
function run(agg, evs) {
  const records = [];
  for (const { t, line } of evs) records.push(...agg.ingest(line, t));
  records.push(...agg.flush());
  return records;
}

/** A Map-backed state with the compare-and-swap contract. */
function mapState() {
  const map = new Map();
  const calls = { get: 0, set: 0, mismatches: 0 };
  return {
    map,
    calls,
    get(key) {
      calls.get++;
      return map.get(key) ?? null;
    },
    set(key, value, cas) {
      calls.set++;
      const cur = map.get(key);
      if ((cur === undefined && cas !== null) || (cur !== undefined && cur.cas !== cas)) {
        calls.mismatches++;
        return false;
      }
      map.set(key, { value, cas: (cur?.cas ?? 0) + 1 });
      return true;
    },
  };
}

function checkReleases(records, windows) {
  const releases = records.filter((r) => "dp_release" in r);
  // Every window, every declared group (3 verbs x 2 classes), zeros included.
  assert.equal(releases.length, windows * 6);
  for (const r of releases) {
    assert.equal(r.dp_release, "by_verb");
    assert.equal(r.mechanism, "laplace");
    assert.ok(Array.isArray(r.ci95) && r.ci95.length === 2);
    assert.ok(r.ci95[0] <= r.value && r.value <= r.ci95[1], "the CI holds the noisy value");
    // Clipping at 0 (post-processing of counts) can make it [0, 0].
    assert.ok(r.ci95[0] >= 0 && r.ci95[1] >= r.ci95[0]);
  }
  return releases;
}

test("releases with 95% CIs over the in-memory ledger", () => {
  const agg = new dp.Aggregator(policy(), key);
  const info = agg.releases();
  assert.deepEqual(info, [
    { name: "by_verb", kind: "count", mechanism: "laplace", epsilon: 0.5, sensitivity: 1, scale: 2, ci95_halfwidth: 6 },
  ]);
  const records = run(agg, events(3, 60));
  const releases = checkReleases(records, 3);
  // 60 events/min: 40 get (32 2xx + 8 4xx), 20 list; the noise is within ±6 w.p. 95%.
  const get2xx = releases.filter((r) => r.group.verb === "get" && r.group.status_class === "2xx");
  assert.equal(get2xx.length, 3);
  for (const r of get2xx) assert.ok(Math.abs(r.value - 32) < 40, "a noisy count near the truth");
  // Spend accumulates in the ledger: 0.5 per window.
  assert.equal(releases.at(-1).budget_spent.epsilon, "1.5");
  assert.equal(releases.at(-1).budget_remaining.epsilon, "8.5");
  const c = agg.counters();
  assert.equal(c.events_accepted, 180);
  assert.equal(c.windows_closed, 3);
});

test("a caller-supplied compare-and-swap state holds the ledger, shared by two aggregators", () => {
  const state = mapState();
  const a = new dp.Aggregator(policy(), key, state);
  const b = new dp.Aggregator(policy(), key, state);
  checkReleases(run(a, events(2, 20)), 2);
  const entry = state.map.get("dp-audit/ledger");
  assert.ok(entry && typeof entry.value === "string" && entry.cas === 2, "two spends, two versions");
  const fromB = checkReleases(run(b, events(2, 20)), 2);
  // b spends from the same budget: 2 windows of a, then 2 of b.
  assert.equal(fromB.at(-1).budget_spent.epsilon, "2");
  assert.equal(state.map.get("dp-audit/ledger").cas, 4);
  assert.ok(state.calls.get >= 4 && state.calls.set === 4);
});

test("a concurrent writer makes the engine re-read and retry (CAS mismatch)", () => {
  const state = mapState();
  const inner = state.set.bind(state);
  let interfere = 3;
  // Another writer rewrites the ledger (same content, new version) between
  // our read and our write, three times.
  state.set = (k, v, cas) => {
    const cur = state.map.get(k);
    if (cur !== undefined && interfere > 0) {
      interfere--;
      state.map.set(k, { value: cur.value, cas: cur.cas + 1 });
    }
    return inner(k, v, cas);
  };
  const records = run(new dp.Aggregator(policy(), key, state), events(2, 10));
  checkReleases(records, 2);
  assert.equal(state.calls.mismatches, 3);
});

test("state that never accepts a write or throws: nothing is released unpaid", () => {
  const refusing = { get: () => null, set: () => false };
  let records = run(new dp.Aggregator(policy(), key, refusing), events(1, 10));
  assert.equal(records.filter((r) => "dp_release" in r).length, 0);
  assert.deepEqual(
    records.map((r) => r.reason),
    ["ledger too contended; nothing released"],
  );
  const throwing = {
    get: () => {
      throw new Error("storage offline");
    },
    set: () => true,
  };
  records = run(new dp.Aggregator(policy(), key, throwing), events(1, 10));
  assert.deepEqual(records.map((r) => r.dp_release_error), ["by_verb"]);
  assert.equal(records[0].reason, "ledger state unavailable; nothing released");
  const corrupt = { get: () => ({ value: "{}", cas: -1 }), set: () => true };
  records = run(new dp.Aggregator(policy(), key, corrupt), events(1, 10));
  assert.match(records[0].reason, /corrupt/);
});

test("budget exhaustion: releases stop, saying so", () => {
  const agg = new dp.Aggregator(policy({ budget: 1.2, epsilon: 0.5 }), key);
  const records = run(agg, events(5, 10));
  const released = new Set(records.filter((r) => "dp_release" in r).map((r) => r.window_start));
  assert.equal(released.size, 2, "two windows of 0.5 fit in 1.2");
  // One record per call that closed exhausted windows (here one window per
  // call: the replay closes windows one at a time).
  const exhausted = records.filter((r) => "dp_budget_exhausted" in r);
  assert.ok(exhausted.every((r) => r.dp_budget_exhausted === "by_verb"));
  assert.equal(exhausted.reduce((n, r) => n + r.windows, 0), 3);
  assert.ok(released.size + 3 === 5);
  // Closing several windows in one call merges them into one record.
  const late = new dp.Aggregator(policy({ budget: 1.2, epsilon: 0.5 }), key);
  late.ingest(events(1, 1)[0].line, T0);
  const merged = late.closeWindows(T0 + 5 * 60).filter((r) => "dp_budget_exhausted" in r);
  assert.equal(merged.length, 1);
  assert.equal(merged[0].windows, 3);
  assert.equal(agg.counters().releases_suppressed_budget, 3);
});

test("closeWindows on a timer, nextCloseAt, and records that cannot be scrubbed", () => {
  const agg = new dp.Aggregator(policy(), key);
  assert.deepEqual(agg.ingest(events(1, 1)[0].line, T0), []);
  assert.equal(agg.nextCloseAt, T0 + 60);
  assert.deepEqual(agg.closeWindows(T0 + 59), []);
  assert.equal(agg.closeWindows(T0 + 60).length, 6);
  assert.throws(() => agg.ingest("{not json", T0 + 61), { message: /^record rejected \(invalid_json\)/ });
  assert.throws(() => new dp.Aggregator('{"preset":"k8s-audit"}', key), {
    message: 'aggregate: missing; the policy has no "aggregate" section',
  });
  assert.throws(() => new dp.Aggregator(policy({ epsilon: -1 }), key), { message: /^aggregate\.releases\[0\]\.epsilon: / });
});

test("calibrate: epsilon to half-width and back", () => {
  const c = dp.calibrate({ mechanism: "laplace", epsilon: 0.5, sensitivity: 1 });
  assert.deepEqual(c, { mechanism: "laplace", sensitivity: 1, confidence: 0.95, epsilon: 0.5, scale: 2, halfwidth: 6 });
  const back = dp.calibrate({ mechanism: "laplace", halfwidth: 6, sensitivity: 1 });
  assert.ok(back.epsilon > 0.4 && back.epsilon <= 0.5, `${back.epsilon}`);
  assert.ok(dp.calibrate({ mechanism: "laplace", epsilon: back.epsilon.toFixed(6), sensitivity: 1 }).halfwidth <= 6);
  // More sensitivity, wider; more epsilon, narrower.
  assert.ok(dp.calibrate({ mechanism: "laplace", epsilon: 0.5, sensitivity: 4 }).halfwidth > 6);
  assert.ok(dp.calibrate({ mechanism: "laplace", epsilon: 2, sensitivity: 1 }).halfwidth < 6);
  const g = dp.calibrate({ mechanism: "gaussian", rho: 0.5, sensitivity: 1, delta: 1e-6 });
  assert.equal(g.scale, 1);
  assert.ok(g.epsilon > 0.5);
  const ge = dp.calibrate({ mechanism: "gaussian", epsilon: "1", sensitivity: 1, delta: 1e-6 });
  assert.ok(ge.rho > 0 && ge.halfwidth > 0);
  assert.throws(() => dp.calibrate({ mechanism: "laplace", sensitivity: 1 }), { message: /^epsilon: give exactly one/ });
  assert.throws(() => dp.calibrate({ mechanism: "laplace", epsilon: 1 }), { message: "sensitivity: required" });
  assert.throws(() => dp.calibrate({ mechanism: "gaussian", epsilon: 1, sensitivity: 1 }), { message: /^delta: / });
  assert.throws(() => dp.calibrate({ mechanism: "cauchy", epsilon: 1, sensitivity: 1 }), { message: /^mechanism: / });
});

test("snapshot and restore carry open windows across instances; the budget stays in the state", () => {
  const state = mapState();
  const first = new dp.Aggregator(policy(), key, state);
  const evs = events(2, 30);
  const half = evs.filter(({ t }) => t < T0 + 90);
  const records = [];
  for (const { t, line } of half) records.push(...first.ingest(line, t));
  const snap = first.snapshot();
  assert.equal(typeof snap, "string");
  first.free();
  // A new instance (a page reload, a restart) resumes the open window.
  const second = dp.Aggregator.restore(policy(), key, snap, state);
  for (const { t, line } of evs.filter(({ t }) => t >= T0 + 90)) records.push(...second.ingest(line, t));
  records.push(...second.flush());
  const releases = checkReleases(records, 2);
  assert.equal(second.counters().events_accepted, 60, "counters travel with the snapshot");
  assert.equal(releases.at(-1).budget_spent.epsilon, "1");
  assert.throws(() => dp.Aggregator.restore(policy({ epsilon: 0.25 }), key, snap), {
    message: "cannot restore aggregator snapshot: taken under a different aggregate configuration",
  });
});
