/**
 * Entry point of the supervisor process (`ctr __supervisor ROOT` when compiled); started by
 * the monitor, never by hand.
 *
 * @module
 */
import { libc } from "../ffi/libc.ts";
import { O } from "../ffi/constants.ts";
import { Supervisor } from "./supervisor.ts";

/** Runs the supervisor of `root`; a stray async error is logged, never fatal for the containers' keeper. */
export async function supervisorMain(root: string): Promise<void> {
  // Our own stderr to the log: what Deno hands a child as "inherit" is the stderr it started
  // with, not the log the monitor put on its fd 2 later.
  Deno.mkdirSync(`${root}/run`, { recursive: true });
  const log = libc.open(`${root}/run/supervisor.log`, O.WRONLY | O.CREAT | O.APPEND | O.CLOEXEC, 0o640);
  libc.dup3(log, 2, 0);
  libc.close(log);
  globalThis.addEventListener("unhandledrejection", (e) => {
    console.error(`ctr supervisor: unhandled: ${(e.reason as Error)?.stack ?? e.reason}`);
    e.preventDefault();
  });
  await Supervisor.run(root);
}

if (import.meta.main) await supervisorMain(Deno.args[0]);
