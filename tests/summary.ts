/**
 * Turns `deno test`'s JUnit report into CI's summary line:
 * `tests: N passed, N failed[, N skipped]`, and lists failed and skipped tests first.
 * Test steps are part of their test and not counted apart. A failed static check counts as
 * one failed test; a `deno test` that failed without reporting a failure (e.g. a module that
 * does not load) counts as one too.
 *
 * Usage: summary.ts JUNIT.xml CHECK_EXIT_CODE TEST_EXIT_CODE
 *
 * @module
 */
const [path, checkRc, testRc] = Deno.args;
let xml = "";
try {
  xml = Deno.readTextFileSync(path);
} catch { /* no report: counted below */ }

const unescape = (s: string) =>
  s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(
    /&amp;/g,
    "&",
  );

let passed = 0, failed = 0, skipped = 0;
const failedNames: string[] = [], skippedNames: string[] = [];
const caseRe = /<testcase name="([^"]*)" classname="([^"]*)"[^>]*>([\s\S]*?)<\/testcase>/g;
for (const m of xml.matchAll(caseRe)) {
  const name = unescape(m[1]);
  if (name.includes(" > ")) continue; // a step
  const body = m[3];
  const label = `${m[2]}: ${name}`;
  if (body.includes("<failure")) {
    failed++;
    failedNames.push(label);
  } else if (body.includes("<skipped")) {
    skipped++;
    skippedNames.push(label);
  } else passed++;
}
if (checkRc !== "0") {
  failed++;
  failedNames.push("static checks (deno task check: fmt, lint, types, import cycles)");
}
if (testRc !== "0" && failed === 0) {
  failed++;
  failedNames.push(`deno test exited ${testRc} without reporting a failing test (a module failed to load?)`);
}
for (const n of skippedNames) console.log(`skipped: ${n}`);
for (const n of failedNames) console.log(`FAILED: ${n}`);
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
Deno.exit(failed ? 1 : 0);
