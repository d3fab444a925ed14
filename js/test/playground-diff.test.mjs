// The playground's labelling without a browser: its structural diff of real
// scrubber output, labelled by `Scrubber.explain`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { diff, pathText, at } from "../../playground/diff.js";

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const dp = require("..");
const key = readFileSync(join(here, "fixtures", "test.key"), "utf8");

test("diff finds changed, dropped, replaced values and renamed keys", () => {
  const before = { a: 1, b: { c: "x", d: [1, 2] }, e: { f: 1 }, g: [1], h: "y", k: { "bob@example.com": 1 } };
  const after = { a: 1, b: { c: "z", d: [1, 3] }, e: "[REDACTED]", g: [1, 2], k: { "[REDACTED:email]": 1 } };
  assert.deepEqual(diff(before, after), [
    { path: ["b", "c"], kind: "changed" },
    { path: ["b", "d", 1], kind: "changed" },
    { path: ["e"], kind: "replaced" },
    { path: ["g"], kind: "replaced" },
    { path: ["h"], kind: "dropped" },
    { path: ["k"], kind: "keys" },
  ]);
  assert.equal(pathText(["annotations", "a.b/c", "x", 0]), 'annotations."a.b/c".x[0]');
  assert.equal(at(before, ["b", "d", 1]), 2);
});

test("every change the scrubber makes gets the rule that made it", () => {
  const policy = JSON.stringify({
    preset: "k8s-audit",
    fields: [
      { path: "stageTimestamp", action: "generalize_time", unit: "second" },
      { path: "userAgent", action: "drop" },
    ],
  });
  const s = new dp.Scrubber(policy, key);
  const lines = readFileSync(join(here, "..", "..", "playground", "samples", "k8s-audit.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean);
  const seen = new Map();
  for (const line of lines) {
    const before = JSON.parse(line);
    const after = JSON.parse(s.scrub(line));
    for (const c of diff(before, after)) {
      const info = s.explain(c.path);
      assert.notEqual(info.action, "keep", `${pathText(c.path)} changed under keep`);
      if (c.kind === "dropped") assert.equal(info.action, "drop", pathText(c.path));
      seen.set(`${info.action} · ${info.rule ?? "default_action"}`, c.kind);
    }
  }
  for (const label of [
    "pseudonymize · user.username",
    "truncate_ip · sourceIPs",
    "generalize_time · stageTimestamp",
    "drop · userAgent",
    "redact · requestObject",
  ]) {
    assert.ok(seen.has(label), `${label} (seen: ${[...seen.keys()].join(", ")})`);
  }
});
