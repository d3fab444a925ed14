// Structural diff of a record before and after scrubbing: which values the
// scrubber changed, dropped or replaced. Pure (no DOM), tested under Node.
//
// The scrubber streams and does not report what it changed, so the page
// compares the parsed input and output. Each change has the path of the
// value that differs (object keys as strings, array positions as numbers),
// which the page labels with `Scrubber.explain(path)`.

/** @typedef {(string|number)[]} Path */
/** @typedef {{ path: Path, kind: "changed" | "dropped" | "replaced" | "keys" }} Change */

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Changes between `before` and `after` (both parsed JSON).
 * - `changed`: a scalar rewritten in place;
 * - `dropped`: a member of the input absent from the output;
 * - `replaced`: a value whose type or shape changed (a container redacted
 *   whole, an array of another length);
 * - `keys`: an object whose keys were rewritten (detection in keys).
 * @returns {Change[]}
 */
export function diff(before, after, path = [], out = []) {
  if (isObject(before) && isObject(after)) {
    const inKeys = Object.keys(before);
    const outKeys = new Set(Object.keys(after));
    const renamed = Object.keys(after).some((k) => !(k in before));
    if (renamed) out.push({ path, kind: "keys" });
    for (const k of inKeys) {
      if (outKeys.has(k)) diff(before[k], after[k], [...path, k], out);
      else if (!renamed) out.push({ path: [...path, k], kind: "dropped" });
    }
    return out;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    if (before.length !== after.length) {
      out.push({ path, kind: "replaced" });
      return out;
    }
    before.forEach((v, i) => diff(v, after[i], [...path, i], out));
    return out;
  }
  const container = (v) => v !== null && typeof v === "object";
  if (container(before) || container(after)) {
    out.push({ path, kind: "replaced" });
  } else if (before !== after) {
    out.push({ path, kind: "changed" });
  }
  return out;
}

/** A stable string key for a path (for lookups while rendering). */
export function pathKey(path) {
  return JSON.stringify(path);
}

/** Selector-like text for a concrete path: `user.groups[0]`, `annotations."a.b/c"`. */
export function pathText(path) {
  let s = "";
  for (const p of path) {
    if (typeof p === "number") s += `[${p}]`;
    else s += (s ? "." : "") + (/^[A-Za-z0-9_-]+$/.test(p) ? p : JSON.stringify(p));
  }
  return s || "(record)";
}

/** The value at `path` in `root` (undefined when absent). */
export function at(root, path) {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = v[p];
  }
  return v;
}
