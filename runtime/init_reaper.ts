/**
 * `--init`: the init stays as PID 1, runs the command as its child, forwards the signals it
 * receives to it, reaps every orphan that the kernel re-parents to PID 1, and exits with the
 * command's status (128+signal when killed), as Docker's tini-based init does.
 *
 * This is the same Deno process as the warm init, so `--init` costs no extra start-up, but
 * the container keeps a Deno runtime (~9 MB private memory) as its PID 1 — the price of not
 * shipping a native binary (measured and documented in the runtime's report).
 *
 * Reaping: the command is Deno's child (so Deno reaps it and reports its status); the other
 * zombies are found with `waitid(P_ALL, WNOWAIT)` — which only peeks — and then reaped one by
 * one with `waitid(P_PID)`, so the command's own status is never stolen from Deno.
 *
 * @module
 */
import { libc } from "../ffi/libc.ts";
import type { PreparedExec } from "./container_init.ts";

const WEXITED = 4, WNOWAIT = 0x01000000, P_ALL = 0, P_PID = 1;

const FORWARDED: Deno.Signal[] = [
  "SIGTERM",
  "SIGINT",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGWINCH",
  "SIGALRM",
  "SIGCONT",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
];

/**
 * Runs `exec` as a child and reaps until it ends; exits the process with its status.
 *
 * @example
 * ```ts
 * await runReaper({ path: "/bin/sh", argv: ["sh", "-c", "sleep 1 &"], env: [] }, () => {});
 * ```
 */
export async function runReaper(exec: PreparedExec, started: () => void): Promise<never> {
  const env: Record<string, string> = {};
  for (const e of exec.env) {
    const i = e.indexOf("=");
    if (i > 0) env[e.slice(0, i)] = e.slice(i + 1);
  }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(exec.path, {
      args: exec.argv.slice(1),
      env,
      clearEnv: true,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (e) {
    console.error(`exec: "${exec.argv[0]}": ${(e as Error).message}`);
    Deno.exit(127);
  }
  started();
  for (const sig of FORWARDED) {
    try {
      Deno.addSignalListener(sig, () => {
        try {
          child.kill(sig);
        } catch { /* already gone */ }
      });
    } catch { /* not listenable here */ }
  }
  const status = child.status;
  let done = false;
  status.then(() => done = true);
  while (!done) {
    let w;
    try {
      w = await libc.waitidAsync(P_ALL, 0, WEXITED | WNOWAIT);
    } catch {
      break; // ECHILD: nothing left but what Deno is reaping
    }
    if (!w || w.pid === child.pid) {
      await status;
      break;
    }
    try {
      libc.waitid(P_PID, w.pid, WEXITED);
    } catch { /* reaped meanwhile */ }
  }
  // Deno reports a signal death as 128 + the signal number, as Docker does.
  Deno.exit((await status).code);
}
