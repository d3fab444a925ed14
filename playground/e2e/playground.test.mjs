// The playground end to end in real headless Chromium (Debian's `chromium`,
// driven by playwright-core): load the page from a local static server,
// choose the K8s preset, paste a sample with planted PII, check that no
// planted value reaches the output panel, that the release panel shows CIs,
// and that the page talks to nobody but its own origin. Saves a screenshot.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { serve } from "../serve.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const playground = join(here, "..");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SCREENSHOT = process.env.DP_AUDIT_SCREENSHOT ?? join(here, "..", "..", "target", "playground.png");

// The pasted sample: the generated K8s log with planted PII, with records
// reordered so that the first ones shown carry planted values.
const sampleLines = readFileSync(join(playground, "samples", "k8s-audit.jsonl"), "utf8").split("\n").filter(Boolean);
const planted = JSON.parse(readFileSync(join(playground, "samples", "k8s-audit.truth.json"), "utf8")).planted;

let server;
let context;
let profile;

before(async () => {
  assert.ok(existsSync(join(playground, "pkg", "dp_audit_bg.wasm")), "run `make js` first (playground/pkg)");
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing (apt-get install chromium)`);
  server = await serve({ port: 0 });
  profile = mkdtempSync(join(tmpdir(), "dp-audit-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1500 },
    // Without the background-networking flags Chromium keeps trying to reach
    // Google services, which the closed network refuses.
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
});

after(async () => {
  await context?.close();
  await server?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test("K8s preset: no planted value in the output, releases with CIs, nothing leaves the page", async () => {
  const page = context.pages()[0] ?? (await context.newPage());
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });

  await page.goto(server.url);
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("ready"), null, { timeout: 60_000 });

  // Choose the K8s preset explicitly (it is also the default).
  await page.selectOption("#preset", "k8s");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("ready"));

  // Paste a sample with planted PII (the records with planted values first).
  const withPii = sampleLines.filter((l) => planted.some((p) => l.includes(p.value)));
  const rest = sampleLines.filter((l) => !withPii.includes(l));
  const sample = [...withPii, ...rest].join("\n") + "\n";
  await page.locator("#sample").fill("");
  await page.locator("#sample").focus();
  await page.keyboard.insertText(sample);
  await page.waitForFunction(
    (n) => document.getElementById("status").textContent === `ready: ${n} records`,
    sampleLines.length,
    { timeout: 60_000 },
  );

  // The output panel: scrubbed records, no planted value anywhere in it.
  const outputs = await page.locator("#records pre.out").allTextContents();
  assert.ok(outputs.length >= 40, `records shown: ${outputs.length}`);
  const outputText = outputs.join("\n");
  const inputText = (await page.locator("#records pre.in").allTextContents()).join("\n");
  const shownPlanted = planted.filter((p) => inputText.includes(p.value));
  assert.ok(shownPlanted.length > 20, `planted values visible in the input panel: ${shownPlanted.length}`);
  const leaked = planted.filter((p) => outputText.includes(p.value)).map((p) => `${p.kind} at ${p.paths.join(",")}`);
  assert.deepEqual(leaked, [], "planted values in the output panel");
  // The whole page, too (the release panel shows scrubbed group keys only).
  const outside = (await page.locator("#scrub-panel .out, #dp-panel").allTextContents()).join("\n");
  assert.deepEqual(planted.filter((p) => outside.includes(p.value)).length, 0);

  // Changed values are highlighted and labelled by the rule that changed them.
  const labels = await page.locator("#records pre.out .tag").allTextContents();
  assert.ok(labels.includes("pseudonymize · user.username"), "a pseudonymized username is labelled");
  assert.ok(labels.some((l) => l.startsWith("truncate_ip · sourceIPs")), "a truncated IP is labelled");
  assert.ok(labels.some((l) => l === "redact · requestObject" || l === "redact · responseObject"));
  assert.ok((await page.locator("#records pre.in mark.chg").count()) > 100);

  // The release panel: every release with its 95% CI around the noisy value.
  const rows = page.locator("#releases tbody tr.release");
  assert.ok((await rows.count()) >= 21, "one window at least: 7 verbs x 3 status classes");
  const cis = await page.locator("#releases tbody tr.release td.ci95").allTextContents();
  const values = await page.locator("#releases tbody tr.release td.num:not(.ci95)").allTextContents();
  cis.forEach((ci, i) => {
    const m = /^\[(-?\d+), (-?\d+)\]$/.exec(ci);
    assert.ok(m, `a CI: ${ci}`);
    const v = Number(values[i]);
    assert.ok(Number(m[1]) <= v && v <= Number(m[2]), "the CI holds the value");
  });
  assert.match(await page.locator("#budget").textContent(), /budget left for 2024-06-03: ε /);
  // The chart of error against epsilon is drawn for the release's sensitivity.
  assert.ok((await page.locator("#chart path.curve").count()) === 1);
  assert.match(await page.locator("#chart-caption").textContent(), /sensitivity \d+/);
  assert.match(await page.locator("#eps-out").textContent(), /^ε = [\d.]+ → ±\d+ \(95%\)$/);

  // A bad policy shows the core's message.
  await page.locator("#policy").fill('{"preset":"k8s-audit","fields":[{"path":"user.username","action":"pseudonymise"}]}');
  await page.waitForFunction(() => document.getElementById("status").textContent === "policy error");
  assert.match(await page.locator("#policy-error").textContent(), /^fields\[0\]\.action: /);

  // The Envoy preset, then a dropped file replaces the sample.
  await page.selectOption("#preset", "envoy");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("ready"));
  const dropped = sampleLines.slice(0, 3).join("\n");
  const dataTransfer = await page.evaluateHandle((text) => {
    const dt = new DataTransfer();
    dt.items.add(new File([text], "audit.jsonl", { type: "text/plain" }));
    return dt;
  }, dropped);
  await page.dispatchEvent("#records", "drop", { dataTransfer });
  await page.waitForFunction(() => document.getElementById("status").textContent === "ready: 3 records");
  // Back to the K8s preset for the screenshot.
  await page.selectOption("#preset", "k8s");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("ready"));
  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: false });

  // Nothing but the page's own origin was contacted (the key never left it).
  const foreign = requests.filter((u) => !u.startsWith(server.url) && !u.startsWith("data:"));
  assert.deepEqual(foreign, []);
  assert.deepEqual(errors, []);
});
