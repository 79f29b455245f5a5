/**
 * Restart policies when the supervisor comes up after everything went down — a host reboot
 * (another boot id than the one recorded) or every ctr process of the root killed — and
 * `ctr system service`, what a boot-time unit runs.
 */
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { ok, rootTest, until } from "./runtime_helpers.ts";
import { inspectField } from "./runtime_helpers.ts";

/** Kills the monitor, the supervisor (and its warm inits) and every container of `root`: a power cut. */
async function killEverything(root: string, ids: string[]): Promise<void> {
  const pids: number[] = [];
  for (const id of ids) {
    const pid = Number(await inspectField(root, id, "{{.State.Pid}}"));
    if (pid > 0) pids.push(pid);
  }
  const monitor = Number(Deno.readTextFileSync(`${root}/run/monitor.pid`).trim());
  const supervisor = Number(Deno.readTextFileSync(`${root}/supervisor.pid`).trim());
  for (const pid of [monitor, supervisor, ...pids]) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  await until(() => [monitor, supervisor, ...pids].every((p) => !alive(p)), 10_000, "processes gone");
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

const running = async (root: string, name: string) =>
  (await inspectField(root, name, "{{.State.Status}}")) === "running";

async function setUp(root: string, image: string): Promise<string[]> {
  const names = ["always", "unless", "onfail", "no", "always-stopped", "unless-stopped"];
  const policy: Record<string, string> = {
    always: "always",
    unless: "unless-stopped",
    onfail: "on-failure:3",
    no: "no",
    "always-stopped": "always",
    "unless-stopped": "unless-stopped",
  };
  for (const n of names) {
    await ok(root, [
      "run",
      "-d",
      "--network",
      "none",
      "--name",
      n,
      "--restart",
      policy[n],
      image,
      "sleep",
      "600",
    ]);
  }
  await ok(root, ["stop", "-t", "0", "always-stopped", "unless-stopped"]);
  return names;
}

rootTest(
  "runtime: after a reboot the supervisor starts always / unless-stopped / on-failure containers (system service)",
  async ({
    root,
    image,
  }) => {
    const names = await setUp(root, image);
    await killEverything(root, names);
    // The host "rebooted": the boot id recorded at the last start is not the current one.
    Deno.writeTextFileSync(`${root}/run/boot_id`, "00000000-0000-0000-0000-000000000000\n");
    const out = await ok(root, ["system", "service"]);
    assertMatch(out, /ctr supervisor for .* is running \(pid \d+\)/);
    for (const n of ["always", "unless", "onfail", "always-stopped"]) {
      await until(() => running(root, n), 20_000, `${n} restarted`);
    }
    for (const n of ["no", "unless-stopped"]) {
      assertEquals(await inspectField(root, n, "{{.State.Status}}"), "exited", n);
    }
    assertEquals(await inspectField(root, "no", "{{.State.ExitCode}}"), "255");
    // The current boot id is recorded for the next start.
    assertEquals(
      Deno.readTextFileSync(`${root}/run/boot_id`).trim(),
      Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim(),
    );
    // The restarted containers work as any other.
    assertEquals(await ok(root, ["exec", "always", "echo", "hi"]), "hi\n");
    await ok(root, ["rm", "-f", ...names]);
  },
);

rootTest(
  "runtime: with every process of the root killed (same boot), the supervisor applies restart policies",
  async ({
    root,
    image,
  }) => {
    const names = await setUp(root, image);
    await killEverything(root, names);
    await ok(root, ["ps"]); // any command brings the supervisor back
    for (const n of ["always", "unless", "onfail"]) {
      await until(() => running(root, n), 20_000, `${n} restarted`);
    }
    // Not a reboot: what the user stopped stays stopped, "always" included.
    for (const n of ["no", "always-stopped", "unless-stopped"]) {
      assertEquals(await inspectField(root, n, "{{.State.Status}}"), "exited", n);
    }
    // A supervisor killed alone (the monitor lives on) adopts its running containers: nothing restarts.
    const before = await inspectField(root, "always", "{{.State.Pid}}");
    Deno.kill(Number(Deno.readTextFileSync(`${root}/supervisor.pid`).trim()), "SIGKILL");
    await new Promise((r) => setTimeout(r, 500));
    await ok(root, ["ps"]);
    assertEquals(await inspectField(root, "always", "{{.State.Pid}}"), before);
    assert(await running(root, "unless"));
    await ok(root, ["rm", "-f", ...names]);
  },
);
