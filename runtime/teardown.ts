/**
 * Stopping everything ctr runs for a state root — supervisor, monitor, containers, their
 * cgroups — for tests and for `ctr system`-style cleanup. Processes are identified by their
 * pid files *and* by their command line naming the root, so a stale pid file never gets an
 * unrelated process killed.
 *
 * @module
 */
import { libc } from "../ffi/libc.ts";
import { containerCgroup, listCgroups, removeCgroupParent } from "./cgroups_interim.ts";
import { request, supervisorRunning } from "./client.ts";
import { cgroupParentFor } from "./supervisor.ts";

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
  const parent = await cgroupParentFor(root);
  for (const name of listCgroups(parent)) {
    const cg = containerCgroup(parent, name);
    cg.killAll();
    await cg.destroy().catch(() => {});
  }
  removeCgroupParent(parent);
}
