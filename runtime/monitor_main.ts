/**
 * Entry point of the monitor process (`ctr __monitor ROOT` when compiled): detaches into its
 * own session, sends its stderr to `<root>/run/supervisor.log`, then runs the monitor.
 *
 * @module
 */
import { libc } from "../ffi/libc.ts";
import { O } from "../ffi/constants.ts";
import { runMonitor } from "./monitor.ts";

/** Detaches and runs the monitor of `root`. */
export async function monitorMain(root: string): Promise<void> {
  // Our own session: a Ctrl-C on the terminal that ran the CLI must not reach us.
  libc.setsid();
  Deno.mkdirSync(`${root}/run`, { recursive: true });
  const log = libc.open(`${root}/run/supervisor.log`, O.WRONLY | O.CREAT | O.APPEND | O.CLOEXEC, 0o640);
  libc.dup3(log, 2, 0);
  libc.close(log);
  await runMonitor(root);
}

if (import.meta.main) await monitorMain(Deno.args[0]);
