import { assert, assertEquals } from "../tests/assert.ts";
import type { Container } from "./container_store.ts";
import { everythingWentDown, type FoundContainer, shouldStartAtBoot } from "./restart_on_boot.ts";

function found(
  policy: string,
  o: {
    wasRunning?: boolean;
    alive?: boolean;
    exit?: number;
    stoppedByUser?: boolean;
    status?: string;
    retries?: number;
  } = {},
): FoundContainer {
  const [name, max] = policy.split(":");
  const container = {
    HostConfig: { RestartPolicy: { Name: name, MaximumRetryCount: Number(max ?? 0) }, AutoRemove: false },
    State: {
      Status: o.status ?? (o.wasRunning === false ? "exited" : "running"),
      StartedAt: 1,
      StoppedByUser: o.stoppedByUser ?? false,
      RestartCount: o.retries ?? 0,
    },
  } as unknown as Container;
  return { container, wasRunning: o.wasRunning ?? true, alive: o.alive ?? false, recordedExit: o.exit };
}

Deno.test("restart on boot: everything went down when the host rebooted or no running container survived unseen", () => {
  assert(everythingWentDown([], true));
  assert(!everythingWentDown([], false));
  assert(everythingWentDown([found("no"), found("always")], false));
  assert(!everythingWentDown([found("no"), found("always", { alive: true })], false));
  assert(!everythingWentDown([found("no", { exit: 0 })], false), "the monitor saw it end");
  assert(!everythingWentDown([found("always", { wasRunning: false })], false));
});

Deno.test("restart on boot: Docker's daemon-start rules after a reboot, an exit seen late otherwise", () => {
  const reboot = { fresh: true, rebooted: true }, killed = { fresh: true, rebooted: false };
  const supervisorOnly = { fresh: false, rebooted: false };
  const cases: [FoundContainer, boolean, boolean, boolean][] = [
    // container, after reboot, after every process was killed, after the supervisor alone died
    [found("always"), true, true, false],
    [found("always", { exit: 0 }), true, true, true],
    [found("always", { wasRunning: false, stoppedByUser: true }), true, false, false],
    [found("unless-stopped"), true, true, false],
    [found("unless-stopped", { wasRunning: false, stoppedByUser: true }), false, false, false],
    [found("on-failure"), true, true, false],
    [found("on-failure", { exit: 3 }), true, true, true],
    [found("on-failure", { exit: 0 }), false, false, false],
    [found("on-failure:2", { retries: 2 }), false, false, false],
    [found("no"), false, false, false],
    [found("always", { alive: true }), false, false, false],
    [found("no", { status: "restarting" }), false, false, true],
  ];
  for (const [f, r, k, s] of cases) {
    const what = `${f.container.HostConfig.RestartPolicy.Name} ${JSON.stringify(f.container.State)}`;
    assertEquals(
      [shouldStartAtBoot(f, reboot), shouldStartAtBoot(f, killed), shouldStartAtBoot(f, supervisorOnly)],
      [r, k, s],
      what,
    );
  }
});
