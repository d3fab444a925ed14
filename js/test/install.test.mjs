// `npm install ./js` works in Node 20: a fresh project installs the package
// directory and uses it by name, types included.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), "..");

test("npm install <package dir> in a fresh project, then require('dp-audit')", () => {
  const dir = mkdtempSync(join(tmpdir(), "dp-audit-install-"));
  try {
    writeFileSync(join(dir, "package.json"), '{"name":"consumer","private":true}');
    // A local directory installs without the registry.
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", pkgDir], { cwd: dir, stdio: "pipe" });
    const script = `
      const { Scrubber, calibrate, version } = require("dp-audit");
      const s = new Scrubber('{"preset":"envoy-access"}', "${"ab".repeat(32)}");
      const out = JSON.parse(s.scrub('{"downstream_remote_address":"203.0.113.9:51234","method":"GET"}'));
      console.log(JSON.stringify([version(), out.downstream_remote_address, out.method, calibrate({mechanism:"laplace", epsilon: 1, sensitivity: 1}).halfwidth]));
    `;
    const printed = execFileSync(process.execPath, ["-e", script], { cwd: dir }).toString().trim();
    assert.deepEqual(JSON.parse(printed), ["0.1.0", "203.0.113.0", "GET", 3]);
    assert.ok(existsSync(join(dir, "node_modules", "dp-audit", "pkg", "dp_audit.d.ts")), "types ship with it");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
