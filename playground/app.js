// The playground: scrubs a pasted sample by the edited policy and runs the DP
// aggregation over it, all in this page. Record content is only ever put
// into the DOM as text (never as HTML).
import init, { Scrubber, Aggregator, calibrate, eventTime, version } from "./pkg/dp_audit.js";
import { diff, pathKey, pathText } from "./diff.js";
import { PRESETS } from "./presets.js";

const $ = (id) => document.getElementById(id);
/** Records shown side by side (all are scrubbed and aggregated). */
const MAX_SHOWN = 60;
/** Windows the page will replay; a sample spanning more keeps its latest ones. */
const MAX_WINDOWS = 240;
/** Release rows shown. */
const MAX_ROWS = 400;

let key = "";
let lastInfo = null;

/** 32 random bytes from the platform CSPRNG, as hex; kept in this page only. */
function newKey() {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  key = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  $("key-text").textContent = "HMAC key pk1: 32 random bytes generated in this page";
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function setStatus(text) {
  $("status").textContent = text;
}

// ---------------------------------------------------------------- scrubbing

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** Label of a change: the action and the rule (selector) that decided it. */
function label(scrubber, path) {
  const info = scrubber.explain(path);
  const rule = info.rule ?? "default_action";
  return { text: `${info.action} · ${rule}`, action: info.action, rule, origin: info.origin };
}

/** Appends the pretty-printed JSON `v` to `out`, marking changed paths. */
function render(v, path, marks, side, indent, out) {
  const mark = marks.get(pathKey(path));
  let target = out;
  if (mark && mark.kind !== "dropped") {
    target = el("mark", {
      class: `chg ${mark.kind}`,
      title: `${pathText(path)}: ${mark.kind} by ${mark.label.text} (${mark.label.origin} rule)`,
      "data-path": pathText(path),
    });
    out.append(target);
  }
  const pad = "  ".repeat(indent);
  if (isObject(v) || Array.isArray(v)) {
    const entries = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
    const [open, close] = Array.isArray(v) ? ["[", "]"] : ["{", "}"];
    if (entries.length === 0) {
      target.append(open + close);
    } else {
      target.append(open + "\n");
      entries.forEach(([k, x], i) => {
        const childPath = [...path, k];
        const childMark = marks.get(pathKey(childPath));
        const line = childMark?.kind === "dropped" && side === "in"
          ? el("span", { class: "dropped", title: `dropped by ${childMark.label.text}` })
          : target;
        if (line !== target) target.append(line);
        line.append(pad + "  ");
        if (!Array.isArray(v)) line.append(el("span", { class: "k" }, JSON.stringify(k)), ": ");
        render(x, childPath, marks, side, indent + 1, line);
        if (line !== target && childMark) line.append(tag(childMark.label));
        line.append(i + 1 < entries.length ? ",\n" : "\n");
      });
      target.append(pad + close);
    }
  } else {
    const cls = v === null ? "n" : typeof v === "string" ? "s" : typeof v === "number" ? "d" : "b";
    target.append(el("span", { class: cls }, JSON.stringify(v)));
  }
  if (mark && mark.kind !== "dropped" && side === "out") out.append(tag(mark.label));
}

function tag(l) {
  return el("span", { class: `tag a-${l.action}`, "data-rule": l.rule }, l.text);
}

function showRecord(scrubber, inputLine, outputLine) {
  const row = el("div", { class: "cols rec" });
  const left = el("pre", { class: "in" });
  const right = el("pre", { class: "out" });
  let before;
  try {
    before = JSON.parse(inputLine);
  } catch {
    before = undefined;
  }
  const after = outputLine === undefined ? undefined : JSON.parse(outputLine);
  if (before === undefined || !isObject(before) || after === undefined || "dp_audit_error" in after) {
    // Not a record the policy could process: the output is the fail-closed result.
    left.append(el("span", { class: "bad" }, inputLine.length > 400 ? inputLine.slice(0, 400) + "…" : inputLine));
    right.append(el("mark", { class: "chg replaced" }, outputLine ?? "(dropped: on_error is drop)"));
    row.append(left, right);
    return { row, changes: 1 };
  }
  const changes = diff(before, after);
  const marks = new Map();
  for (const c of changes) marks.set(pathKey(c.path), { kind: c.kind, label: label(scrubber, c.path) });
  render(before, [], marks, "in", 0, left);
  render(after, [], marks, "out", 0, right);
  row.append(left, right);
  return { row, changes: changes.length };
}

function runScrub(policyText, lines) {
  const scrubber = new Scrubber(policyText, key);
  const records = $("records");
  records.replaceChildren();
  let changed = 0;
  let failed = 0;
  const t0 = performance.now();
  const outputs = lines.map((l) => scrubber.scrub(l));
  const ms = performance.now() - t0;
  lines.slice(0, MAX_SHOWN).forEach((line, i) => {
    const { row, changes } = showRecord(scrubber, line, outputs[i]);
    changed += changes;
    records.append(row);
  });
  failed = outputs.filter((o) => o === undefined || o.startsWith('{"dp_audit_error"')).length;
  const shown = Math.min(lines.length, MAX_SHOWN);
  $("scrub-summary").textContent =
    `${lines.length} records scrubbed in ${ms.toFixed(1)} ms; ${changed} values changed in the ${shown} shown` +
    (failed ? `; ${failed} failed closed` : "");
  scrubber.free();
}

// -------------------------------------------------------------- aggregation

/** The raw value at a dotted literal path (the aggregation's time field). */
function field(record, dotted) {
  let v = record;
  for (const k of dotted.split(".")) {
    if (!isObject(v)) return undefined;
    v = v[k];
  }
  return v;
}

function runAggregate(policyText, lines) {
  const tbody = $("releases").querySelector("tbody");
  tbody.replaceChildren();
  $("budget").textContent = "";
  $("dp-notes").textContent = "";
  let policy;
  try {
    policy = JSON.parse(policyText);
  } catch {
    return;
  }
  if (!policy.aggregate) {
    $("dp-summary").textContent = "(the policy has no \"aggregate\" section)";
    lastInfo = null;
    drawChart();
    return;
  }
  const agg = new Aggregator(policyText, key);
  try {
    const info = agg.releases();
    lastInfo = info[0] ?? null;
    // Replay: host time follows the records' own time, as Fluent Bit's
    // Time_Key does; records without one keep the last time seen.
    const timeField = policy.aggregate.time_field;
    const times = lines.map((l) => {
      try {
        const v = timeField ? field(JSON.parse(l), timeField) : undefined;
        return v === undefined || v === null ? undefined : eventTime(String(v));
      } catch {
        return undefined;
      }
    });
    const known = times.filter((t) => t !== undefined);
    let from = -Infinity;
    if (known.length) {
      const max = Math.max(...known);
      const min = Math.min(...known);
      const width = windowWidth(policy.aggregate.window);
      if (width && (max - min) / width > MAX_WINDOWS) {
        from = max - MAX_WINDOWS * width;
        $("dp-notes").textContent = `The sample spans ${Math.round((max - min) / width)} windows; only its latest ${MAX_WINDOWS} are aggregated. `;
      }
    }
    const records = [];
    let now = known.length ? Math.min(...known) : Date.now() / 1000;
    let rejected = 0;
    lines.forEach((line, i) => {
      if (times[i] !== undefined) {
        if (times[i] < from) return;
        now = Math.max(now, times[i]);
      }
      try {
        records.push(...agg.ingest(line, now));
      } catch {
        rejected++;
      }
    });
    records.push(...agg.flush());
    showReleases(records, agg, rejected);
  } finally {
    agg.free();
  }
  drawChart();
}

/** Seconds of a duration such as "1m", "30s", "1h" (the policy's window). */
function windowWidth(text) {
  const m = /^(\d+)(s|m|h|d)$/.exec(String(text ?? "").trim());
  if (!m) return null;
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
}

function showReleases(records, agg, rejected) {
  const tbody = $("releases").querySelector("tbody");
  const releases = records.filter((r) => "dp_release" in r);
  const maxHi = Math.max(1, ...releases.map((r) => r.ci95[1]));
  for (const r of records.slice(0, MAX_ROWS)) {
    const win = `${(r.window_start ?? "").slice(11, 16)}–${(r.window_end ?? "").slice(11, 16)}`;
    if ("dp_release" in r) {
      const group = Object.entries(r.group).map(([k, v]) => `${k}=${v}`).join(" ");
      const bar = el("div", { class: "ci" });
      const lo = (r.ci95[0] / maxHi) * 100;
      const hi = (r.ci95[1] / maxHi) * 100;
      const val = (r.value / maxHi) * 100;
      // Positioned through CSSOM: the page's CSP allows no inline style attributes.
      const range = el("div", { class: "ci-range" });
      range.style.left = `${lo}%`;
      range.style.width = `${Math.max(0.5, hi - lo)}%`;
      const dot = el("div", { class: "ci-value" });
      dot.style.left = `${val}%`;
      bar.append(range, dot);
      tbody.append(
        el("tr", { class: "release" },
          el("td", {}, win),
          el("td", {}, group),
          el("td", { class: "num" }, String(r.value)),
          el("td", { class: "num ci95" }, `[${r.ci95[0]}, ${r.ci95[1]}]`),
          el("td", {}, bar)),
      );
    } else {
      const what = r.dp_budget_exhausted ? `budget exhausted (${r.windows} window${r.windows > 1 ? "s" : ""}): nothing released` : `not released: ${r.reason}`;
      tbody.append(el("tr", { class: "suppressed" }, el("td", {}, win), el("td", { colspan: "4" }, what)));
    }
  }
  const last = releases.at(-1);
  const c = agg.counters();
  $("dp-summary").textContent =
    `${releases.length} releases over ${c.windows_closed} windows` + (records.length > MAX_ROWS ? ` (first ${MAX_ROWS} rows shown)` : "");
  if (last) {
    $("budget").textContent =
      `${last.mechanism} noise, scale ${last.scale}, ${last.epsilon ? "ε " + last.epsilon : "ρ " + last.rho} per window; ` +
      `privacy unit: ${last.privacy_unit}; budget left for ${last.budget_period_start.slice(0, 10)}: ε ${last.budget_remaining.epsilon} ` +
      "(the page's ledger is in memory and starts afresh on every run)";
  }
  const notes = [];
  if (c.events_late) notes.push(`${c.events_late} late events dropped`);
  if (c.events_bad_time) notes.push(`${c.events_bad_time} without a readable time`);
  if (c.contributions_out_of_domain) notes.push(`${c.contributions_out_of_domain} contributions outside the declared domains`);
  if (c.contributions_over_group_bound) notes.push(`${c.contributions_over_group_bound} beyond max_groups_per_unit`);
  if (rejected) notes.push(`${rejected} records could not be scrubbed`);
  if (notes.length) $("dp-notes").append(`Operator counters (exact, not DP): ${notes.join("; ")}.`);
}

// ------------------------------------------------------------------- chart

const EPS_MIN = 0.01;
const EPS_MAX = 10;

function halfwidthAt(eps) {
  if (!lastInfo) return null;
  try {
    if (lastInfo.mechanism === "laplace") {
      return calibrate({ mechanism: "laplace", epsilon: eps.toFixed(6), sensitivity: lastInfo.sensitivity }).halfwidth;
    }
    // Gaussian releases are budgeted in rho: the x axis is rho.
    return calibrate({ mechanism: "gaussian", rho: eps.toFixed(6), sensitivity: lastInfo.sensitivity }).halfwidth;
  } catch {
    return null;
  }
}

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function drawChart() {
  const chart = $("chart");
  chart.replaceChildren();
  if (!lastInfo) {
    $("chart-caption").textContent = "(no release configured)";
    return;
  }
  const param = lastInfo.mechanism === "laplace" ? "ε" : "ρ";
  const current = lastInfo.mechanism === "laplace" ? lastInfo.epsilon : lastInfo.rho;
  $("chart-caption").textContent =
    `(${lastInfo.name}: ${lastInfo.mechanism}, sensitivity ${lastInfo.sensitivity}; 95% CI half-width)`;
  const W = 520, H = 320, L = 56, R = 14, T = 14, B = 40;
  const xs = [];
  for (let i = 0; i <= 80; i++) xs.push(EPS_MIN * Math.pow(EPS_MAX / EPS_MIN, i / 80));
  const pts = xs.map((e) => [e, halfwidthAt(e)]).filter(([, h]) => h !== null);
  if (!pts.length) return;
  const hMax = Math.max(...pts.map(([, h]) => h), 1);
  const x = (e) => L + ((Math.log10(e) - Math.log10(EPS_MIN)) / (Math.log10(EPS_MAX) - Math.log10(EPS_MIN))) * (W - L - R);
  const y = (h) => T + (1 - Math.log10(Math.max(h, 0.5) / 0.5) / Math.log10(hMax / 0.5)) * (H - T - B);
  // Grid and axes.
  for (const e of [0.01, 0.1, 1, 10]) {
    chart.append(svg("line", { x1: x(e), x2: x(e), y1: T, y2: H - B, class: "grid" }));
    chart.append(svg("text", { x: x(e), y: H - B + 16, "text-anchor": "middle", class: "axis" }, String(e)));
  }
  for (let h = 1; h <= hMax; h *= 10) {
    chart.append(svg("line", { x1: L, x2: W - R, y1: y(h), y2: y(h), class: "grid" }));
    chart.append(svg("text", { x: L - 6, y: y(h) + 4, "text-anchor": "end", class: "axis" }, `±${h}`));
  }
  chart.append(svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", class: "axis" }, `${param} per window (log scale)`));
  chart.append(svg("text", { x: 12, y: (T + H - B) / 2, transform: `rotate(-90 12 ${(T + H - B) / 2})`, "text-anchor": "middle", class: "axis" }, "95% CI half-width"));
  const d = pts.map(([e, h], i) => `${i ? "L" : "M"}${x(e).toFixed(1)},${y(h).toFixed(1)}`).join(" ");
  chart.append(svg("path", { d, class: "curve" }));
  // The policy's current value, and the slider's.
  if (current) {
    const h = halfwidthAt(current);
    if (h !== null) {
      chart.append(svg("circle", { cx: x(current), cy: y(h), r: 5, class: "current" }));
      chart.append(svg("text", { x: x(current) + 8, y: y(h) - 8, class: "label" }, `policy: ${param}=${current} → ±${h}`));
    }
  }
  const e = Math.pow(10, Number($("eps").value));
  const h = halfwidthAt(e);
  if (h !== null) {
    chart.append(svg("line", { x1: x(e), x2: x(e), y1: T, y2: H - B, class: "cursor" }));
    chart.append(svg("circle", { cx: x(e), cy: y(h), r: 4, class: "pick" }));
    $("eps-out").textContent = `${param} = ${e.toFixed(3)} → ±${h} (95%)`;
  }
  updateWanted();
}

function updateWanted() {
  if (!lastInfo) return;
  const h = Number($("hw").value);
  if (!(h >= 1)) return;
  try {
    const opts = { mechanism: lastInfo.mechanism, halfwidth: Math.round(h), sensitivity: lastInfo.sensitivity };
    if (lastInfo.mechanism === "gaussian") opts.delta = 1e-6;
    const c = calibrate(opts);
    $("hw-out").textContent = `needs ε ≥ ${c.epsilon.toFixed(4)} per window` +
      (lastInfo.mechanism === "gaussian" ? " (at δ = 1e-6)" : "");
  } catch (e) {
    $("hw-out").textContent = e.message;
  }
}

/** Writes the slider's epsilon into the first release of the policy. */
function useEpsilon() {
  try {
    const p = JSON.parse($("policy").value);
    const r = p.aggregate?.releases?.[0];
    if (!r) return;
    const v = Number(Math.pow(10, Number($("eps").value)).toFixed(3));
    if (r.mechanism === "gaussian") r.rho = v;
    else r.epsilon = v;
    $("policy").value = JSON.stringify(p, null, 2);
    schedule();
  } catch {
    // An unparsable policy is reported by the run itself.
  }
}

// --------------------------------------------------------------- main loop

function lines() {
  return $("sample").value.split("\n").map((l) => l.trim()).filter((l) => l.length > 0);
}

function run() {
  const policyText = $("policy").value;
  const sample = lines();
  $("sample-info").textContent = `${sample.length} records`;
  try {
    // Compiling first: a bad policy or key stops here with the core's message.
    new Scrubber(policyText, key).free();
    $("policy-error").hidden = true;
  } catch (e) {
    $("policy-error").textContent = e.message;
    $("policy-error").hidden = false;
    setStatus("policy error");
    return;
  }
  try {
    runScrub(policyText, sample);
    runAggregate(policyText, sample);
    setStatus(`ready: ${sample.length} records`);
  } catch (e) {
    $("policy-error").textContent = e.message;
    $("policy-error").hidden = false;
    setStatus("error");
  }
}

let timer = 0;
function schedule() {
  clearTimeout(timer);
  setStatus("running…");
  timer = setTimeout(run, 250);
}

async function choosePreset(id) {
  // Synchronously, so that nobody mistakes the previous run's status for this one's.
  clearTimeout(timer);
  setStatus("loading preset…");
  const p = PRESETS.find((x) => x.id === id) ?? PRESETS[0];
  $("preset").value = p.id;
  $("policy").value = p.policy;
  const res = await fetch(p.sample);
  $("sample").value = res.ok ? await res.text() : "";
  run();
}

async function main() {
  await init();
  $("version").textContent = `dp-audit ${version()}`;
  newKey();
  for (const p of PRESETS) $("preset").append(el("option", { value: p.id }, p.name));
  $("preset").addEventListener("change", () => choosePreset($("preset").value));
  $("policy").addEventListener("input", schedule);
  $("sample").addEventListener("input", schedule);
  $("new-key").addEventListener("click", () => {
    newKey();
    run();
  });
  $("eps").addEventListener("input", drawChart);
  $("hw").addEventListener("input", updateWanted);
  $("use-eps").addEventListener("click", useEpsilon);
  $("file").addEventListener("change", async () => {
    const f = $("file").files?.[0];
    if (f) {
      $("sample").value = await f.text();
      run();
    }
  });
  // A file dropped anywhere on the page becomes the sample (and the browser
  // does not navigate away to it).
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", async (e) => {
    const f = e.dataTransfer?.files?.[0];
    if (!f) return;
    e.preventDefault();
    $("sample").value = await f.text();
    run();
  });
  await choosePreset(PRESETS[0].id);
}

main().catch((e) => {
  setStatus("failed to load");
  $("policy-error").textContent = `The WebAssembly module could not be loaded: ${e.message}`;
  $("policy-error").hidden = false;
});
