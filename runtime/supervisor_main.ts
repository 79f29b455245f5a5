/**
 * Entry point of the supervisor process (`ctr __supervisor ROOT` when compiled); started by
 * the monitor, never by hand.
 *
 * @module
 */
import { Supervisor } from "./supervisor.ts";

/** Runs the supervisor of `root`; a stray async error is logged, never fatal for the containers' keeper. */
export async function supervisorMain(root: string): Promise<void> {
  globalThis.addEventListener("unhandledrejection", (e) => {
    console.error(`ctr supervisor: unhandled: ${(e.reason as Error)?.stack ?? e.reason}`);
    e.preventDefault();
  });
  await Supervisor.run(root);
}

if (import.meta.main) await supervisorMain(Deno.args[0]);
