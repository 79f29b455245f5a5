/**
 * Shared helpers for end-to-end tests: run `./ctr` as a user would, in a throw-away state
 * root, and find the root-filesystem fixtures built by `tests/setup`.
 *
 * @module
 */

/** The repository root. */
export const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** Where `tests/setup` caches fixtures. */
export const FIXTURES = Deno.env.get("CTR_FIXTURES") ?? "/var/cache/ctr-tests";

/** Whether the tests run as root (tests needing root are skipped otherwise, naming why). */
export const IS_ROOT = Deno.uid() === 0;

/** Result of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Path of a fixture tarball, building it with its script when missing.
 *
 * @example
 * ```ts
 * const tar = await fixture("busybox"); // …/busybox.tar
 * ```
 */
export async function fixture(name: "busybox" | "debian"): Promise<string> {
  const file = name === "busybox" ? `${FIXTURES}/busybox.tar` : `${FIXTURES}/debian.tar.gz`;
  try {
    if ((await Deno.stat(file)).size > 0) return file;
  } catch { /* build it */ }
  await Deno.mkdir(FIXTURES, { recursive: true });
  const script = `${REPO}/tests/fixtures/${name}-rootfs.sh`;
  const out = await new Deno.Command("bash", { args: [script, file], stdout: "inherit", stderr: "inherit" })
    .output();
  if (!out.success) throw new Error(`Building fixture ${name} failed`);
  return file;
}

/**
 * Runs `./ctr ARGS…` with `--root root` and returns its exit code and output.
 *
 * @example
 * ```ts
 * const r = await ctr(root, ["images", "-q"]);
 * assertEquals(r.code, 0);
 * ```
 */
export async function ctr(
  root: string,
  args: string[],
  options: { stdin?: string | Uint8Array; env?: Record<string, string>; cwd?: string } = {},
): Promise<RunResult> {
  const cmd = new Deno.Command(`${REPO}/ctr`, {
    args: ["--root", root, ...args],
    stdin: options.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: options.env,
    cwd: options.cwd,
  });
  const child = cmd.spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(
      typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
    );
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * Unmounts everything mounted under `dir` (deepest first), as a failed test may leave mounts.
 *
 * @example
 * ```ts
 * await unmountUnder(root);
 * ```
 */
export async function unmountUnder(dir: string): Promise<void> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  const points = info.split("\n").map((l) => l.split(" ")[4]).filter((p) =>
    p && (p === dir || p.startsWith(dir + "/"))
  );
  for (const p of points.sort((a, b) => b.length - a.length)) {
    await new Deno.Command("umount", { args: ["-l", p], stderr: "null" }).output();
  }
}

/**
 * Creates a fresh state root, runs `fn`, then stops anything ctr left running there and
 * removes the root.
 *
 * @example
 * ```ts
 * Deno.test("x", () => withRoot(async (root) => { … }));
 * ```
 */
export async function withRoot<T>(fn: (root: string) => Promise<T>): Promise<T> {
  const root = await Deno.makeTempDir({ prefix: "ctr-test-" });
  try {
    return await fn(root);
  } finally {
    await cleanupRoot(root);
  }
}

/**
 * Stops everything ctr runs for a state root (supervisor, monitor, containers and their
 * cgroups — see `runtime/teardown.ts`), unmounts and deletes the root.
 *
 * @example
 * ```ts
 * await cleanupRoot(root);
 * ```
 */
export async function cleanupRoot(root: string): Promise<void> {
  const { teardownRoot } = await import("../runtime/teardown.ts");
  await teardownRoot(root).catch((e) => console.error(`cleanupRoot: ${e.message}`));
  await unmountUnder(root);
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
