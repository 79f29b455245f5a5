/**
 * Stopping everything ctr runs for a state root — supervisor, monitor, containers, their
 * cgroups — for tests and for `ctr system`-style cleanup. Processes are identified by their
 * pid files *and* by their command line naming the root, so a stale pid file never gets an
 * unrelated process killed.
 *
 * @module
 */
import { libc } from "../ffi/libc.ts";
import { MNT } from "../ffi/constants.ts";
import { cgroupParentFor, detectCgroupLayout } from "./cgroups/mod.ts";
import { request, supervisorRunning } from "./client.ts";
import { ContainerCgroup } from "./container_cgroup.ts";
import { teardownRootNetwork } from "./network/teardown.ts";

function ownedPid(file: string, root: string): number | undefined {
  try {
    const pid = Number(Deno.readTextFileSync(file).trim());
    if (!(pid > 1)) return undefined;
    const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
    return cmdline.includes(root) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Shuts down the supervisor of `root` (killing its containers) and removes their cgroups.
 *
 * @example
 * ```ts
 * await teardownRoot(root);
 * ```
 */
export async function teardownRoot(root: string): Promise<void> {
  if (await supervisorRunning(root)) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      request(root, { op: "shutdown", killContainers: true }).catch(() => {}),
      new Promise((r) => timer = setTimeout(r, 10_000)),
    ]);
    clearTimeout(timer);
  }
  for (const file of [`${root}/run/monitor.pid`, `${root}/supervisor.pid`]) {
    const pid = ownedPid(file, root);
    if (pid) {
      try {
        libc.kill(pid, 9);
      } catch { /* gone */ }
    }
  }
  for (const id of containerCgroupNames(root)) {
    const cg = new ContainerCgroup(root, id);
    await cg.killAll().catch(() => {});
    await cg.destroy().catch(() => {}); // the per-root parent goes with the last one
  }
  // Interfaces and rules a supervisor killed above could not take down itself.
  try {
    teardownRootNetwork(root);
  } catch (e) {
    console.error(`ctr: network teardown of ${root}: ${(e as Error).message}`);
  }
}

/**
 * Stops everything ctr runs for `root` ({@linkcode teardownRoot}), unmounts whatever is still
 * mounted below it, and deletes the state root's contents (the directory itself stays).
 *
 * @example
 * ```ts
 * await resetRoot("/var/lib/ctr"); // as `ctr system reset -f`
 * ```
 */
export async function resetRoot(root: string): Promise<void> {
  await teardownRoot(root);
  const mounts = Deno.readTextFileSync("/proc/self/mountinfo").split("\n").map((l) => l.split(" ")[4])
    .filter((p) => p && p.startsWith(root + "/")).sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try {
      libc.umount(m, MNT.DETACH);
    } catch { /* already gone */ }
  }
  for (const e of Deno.readDirSync(root)) {
    await Deno.remove(`${root}/${e.name}`, { recursive: true });
  }
}

/**
 * Names of the container cgroups that exist under a state root's parent cgroup.
 *
 * @example
 * ```ts
 * containerCgroupNames(root); // [] once everything is cleaned up
 * ```
 */
export function containerCgroupNames(root: string): string[] {
  const layout = detectCgroupLayout();
  const base = layout.mode === "v2" ? layout.unified! : layout.v1.pids ?? Object.values(layout.v1)[0];
  try {
    return [...Deno.readDirSync(`${base}/${cgroupParentFor(root)}`)].filter((e) => e.isDirectory).map((e) =>
      e.name
    );
  } catch {
    return [];
  }
}
