/**
 * Which containers a starting supervisor starts again, by their restart policies — the pure
 * decision, and the boot identity it rests on.
 *
 * Two situations differ:
 * - **The supervisor alone went down** (killed, crashed) while its monitor kept watching: the
 *   containers that died meanwhile have exit records, and each is treated as if it had just
 *   exited (its policy and exit code decide, as at any exit).
 * - **Everything went down** — the host rebooted (its boot id, `/proc/sys/kernel/random/boot_id`,
 *   is not the one recorded at the last start), or every ctr process of the root was gone (no
 *   container recorded as running survived, and no monitor saw them end). Then, as Docker's
 *   daemon does when it starts: `always` containers start (after a reboot even those the user
 *   had stopped), `unless-stopped` ones unless the user stopped them, and `on-failure` ones
 *   that were running (their exit is unknown, so a failure) within their retry count.
 * Containers that never started, and `--rm` ones, are left alone.
 *
 * ```text
 * <root>/run/boot_id   the boot id at the supervisor's last start
 * ```
 *
 * @module
 */
import type { Container } from "./container_store.ts";

/** What the supervisor found about one container at start-up. */
export interface FoundContainer {
  container: Container;
  /** Recorded running, paused or restarting. */
  wasRunning: boolean;
  /** Its process still runs (it will be adopted). */
  alive: boolean;
  /** The exit code the monitor recorded, when it saw the process end. */
  recordedExit?: number;
}

/** Whether this start follows a reboot or the loss of every process of the root. */
export function everythingWentDown(found: FoundContainer[], rebooted: boolean): boolean {
  if (rebooted) return true;
  const running = found.filter((f) => f.wasRunning);
  return running.length > 0 && running.every((f) => !f.alive && f.recordedExit === undefined);
}

/**
 * Whether a container is to be started by a starting supervisor.
 *
 * @example
 * ```ts
 * shouldStartAtBoot({ container, wasRunning: true, alive: false }, { fresh: true, rebooted: true });
 * ```
 */
export function shouldStartAtBoot(
  f: FoundContainer,
  situation: { fresh: boolean; rebooted: boolean },
): boolean {
  const c = f.container;
  if (f.alive || c.HostConfig.AutoRemove || !c.State.StartedAt) return false;
  const policy = c.HostConfig.RestartPolicy;
  if (!situation.fresh) {
    // Only the supervisor was down: an ordinary exit, seen late.
    if (!f.wasRunning) return false;
    if (c.State.Status === "restarting") return true;
    if (f.recordedExit === undefined || c.State.StoppedByUser) return false;
    return policy.Name === "always" || policy.Name === "unless-stopped" ||
      (policy.Name === "on-failure" && f.recordedExit !== 0 && withinRetries(c));
  }
  if (policy.Name === "always") return f.wasRunning || situation.rebooted;
  if (policy.Name === "unless-stopped") return f.wasRunning && !c.State.StoppedByUser;
  if (policy.Name === "on-failure") return f.wasRunning && (f.recordedExit ?? 255) !== 0 && withinRetries(c);
  return false;
}

function withinRetries(c: Container): boolean {
  const max = c.HostConfig.RestartPolicy.MaximumRetryCount;
  return max === 0 || c.State.RestartCount < max;
}

/** The running kernel's boot id (empty when unreadable). */
export function currentBootId(): string {
  try {
    return Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
  } catch {
    return "";
  }
}

/** The boot id recorded at the root's last supervisor start, if any. */
export function recordedBootId(root: string): string | undefined {
  try {
    return Deno.readTextFileSync(`${root}/run/boot_id`).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Records the current boot id for the next start. */
export function recordBootId(root: string, id: string): void {
  Deno.writeTextFileSync(`${root}/run/boot_id`, `${id}\n`);
}
