/**
 * Helpers for the end-to-end build tests: a root-gated test with a fresh state root holding
 * the fixtures imported by `ctr import` (`busybox`, and `debian` when asked), build contexts
 * written from a table of files, and `ctr build` with plain progress.
 *
 * @module
 */
import { assertEquals } from "./assert.ts";
import { ctr, fixture, IS_ROOT, type RunResult, withRoot } from "./helpers.ts";

/** A test that needs root, with a state root holding `busybox` (and `debian` when asked). */
export function buildTest(
  name: string,
  fn: (root: string) => Promise<void>,
  options: { debian?: boolean } = {},
): void {
  Deno.test({
    name: `${name} (root)`,
    ignore: !IS_ROOT,
    fn: () =>
      withRoot(async (root) => {
        await importFixture(root, "busybox");
        if (options.debian) await importFixture(root, "debian");
        await fn(root);
      }),
  });
}

/** `ctr import` of a fixture as `NAME:latest`. */
export async function importFixture(root: string, name: "busybox" | "debian"): Promise<void> {
  const r = await ctr(root, ["import", await fixture(name), name]);
  if (r.code !== 0) throw new Error(`ctr import ${name} failed: ${r.stderr}`);
}

/** Writes a context directory from `files` (path → text; a trailing `/` makes a directory). */
export async function makeContext(files: Record<string, string | Uint8Array>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ctr-build-ctx-" });
  for (const [path, data] of Object.entries(files)) {
    const full = `${dir}/${path}`;
    if (path.endsWith("/")) {
      await Deno.mkdir(full, { recursive: true });
      continue;
    }
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    if (typeof data === "string") await Deno.writeTextFile(full, data);
    else await Deno.writeFile(full, data);
  }
  return dir;
}

/** Runs `fn` with a context made from `files`, removing it afterwards. */
export async function withContext<T>(
  files: Record<string, string | Uint8Array>,
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await makeContext(files);
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `ctr build --progress plain ARGS… CONTEXT`. */
export function build(root: string, context: string, args: string[] = [], stdin?: string | Uint8Array) {
  return ctr(root, ["build", "--progress", "plain", ...args, context], { stdin });
}

/** Like {@linkcode build}, failing with the output when the build does not succeed. */
export async function buildOk(root: string, context: string, args: string[] = []): Promise<RunResult> {
  const r = await build(root, context, args);
  if (r.code !== 0) throw new Error(`ctr build failed (${r.code}):\n${r.stderr}`);
  return r;
}

/** `ctr run --rm ARGS…`, asserting its exit code; returns stdout. */
export async function runIn(root: string, args: string[], code = 0): Promise<string> {
  const r = await ctr(root, ["run", "--rm", ...args]);
  assertEquals(r.code, code, `ctr run ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** The layer steps of a plain progress log: `[n/N] INSTRUCTION` → `CACHED`, `DONE` or `ERROR`. */
export function stepResults(log: string): { step: string; result: string }[] {
  const names = new Map<string, string>();
  const out: { step: string; result: string }[] = [];
  for (const line of log.split("\n")) {
    const m = /^#(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const [, id, rest] = m;
    if (!names.has(id)) {
      names.set(id, rest);
      continue;
    }
    const end = /^(CACHED|DONE|ERROR)/.exec(rest);
    if (end && /\] (RUN|COPY|ADD|WORKDIR) /.test(names.get(id)!)) {
      out.push({ step: names.get(id)!.replace(/^\[[^\]]*\] /, ""), result: end[1] });
    }
  }
  return out;
}
