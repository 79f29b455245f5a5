/**
 * Helpers for the runtime's end-to-end tests: a root-gated test with a fresh state root that
 * already holds the busybox image, and small polling utilities (for states that change
 * asynchronously — never for timing assertions).
 *
 * @module
 */
import { ctr, IS_ROOT, type RunResult, withRoot } from "./helpers.ts";
import { importFixtureImage } from "./fixture_image.ts";
import { cgroupParentFor } from "../runtime/cgroups/mod.ts";

/**
 * A test that needs root, with a state root holding `busybox` (and `debian` when asked).
 *
 * @example
 * ```ts
 * rootTest("runtime: echo", async ({ root, image }) => { … });
 * ```
 */
export function rootTest(
  name: string,
  fn: (t: { root: string; image: string; t: Deno.TestContext }) => Promise<void>,
  options: { debian?: boolean } = {},
): void {
  Deno.test({
    name: `${name} (root)`,
    ignore: !IS_ROOT,
    fn: (t) =>
      withRoot(async (root) => {
        const image = await importFixtureImage(root, "busybox");
        if (options.debian) await importFixtureImage(root, "debian");
        await fn({ root, image, t });
      }),
  });
}

/** Runs ctr and returns stdout, failing with its stderr when the exit code is not 0. */
export async function ok(root: string, args: string[], options: { stdin?: string } = {}): Promise<string> {
  const r = await ctr(root, args, options);
  if (r.code !== 0) throw new Error(`ctr ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** `ctr inspect -f TEMPLATE REF`, trimmed. */
export async function inspectField(root: string, ref: string, template: string): Promise<string> {
  return (await ok(root, ["inspect", "-f", template, ref])).trim();
}

/** Polls `fn` until it returns true (or fails after `timeoutMs`). */
export async function until(
  fn: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
  what = "condition",
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

/**
 * The host's mounts and ctr cgroups that concern one test: mountinfo lines naming `root` (or
 * a temporary `ctr-rootfs-` mount point) and the cgroup directories of `root` — other
 * engineers' tests run on this machine at the same time.
 */
export async function hostSnapshot(root: string): Promise<{ mounts: string[]; cgroups: string[] }> {
  const mounts = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
    .filter((l) => l.includes(root) || l.includes("ctr-rootfs-"))
    .map((l) => l.split(" ").slice(4).join(" "))
    .sort();
  const parents = [cgroupParentFor(root)];
  const cgroups: string[] = [];
  const walk = async (dir: string, depth: number) => {
    if (depth > 3) return;
    try {
      for await (const e of Deno.readDir(dir)) {
        if (!e.isDirectory) continue;
        if (depth === 0 && !parents.includes(e.name)) continue;
        cgroups.push(`${dir}/${e.name}`);
        await walk(`${dir}/${e.name}`, depth + 1);
      }
    } catch { /* vanished */ }
  };
  for (const c of ["memory", "pids", "cpu", "freezer", "devices", "unified"]) {
    await walk(`/sys/fs/cgroup/${c}`, 0);
  }
  await walk("/sys/fs/cgroup", 0);
  return { mounts, cgroups: cgroups.sort() };
}

export type { RunResult };
