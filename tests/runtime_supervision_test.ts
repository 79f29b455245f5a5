/**
 * Supervision end to end: containers survive a SIGKILLed supervisor (and a container that
 * ends while it is down keeps its exit code); after the restart ps, logs, stop and exit codes
 * are right. And scale: 100 containers from one image cost well under 1 MB of disk each and
 * run at once on this 2-core machine.
 */
import { assert, assertEquals } from "./assert.ts";
import { ctr } from "./helpers.ts";
import { inspectField, ok, rootTest, until } from "./runtime_helpers.ts";

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

rootTest(
  "runtime: containers survive a SIGKILLed supervisor; after its restart ps, logs, stop and exit codes are right",
  async ({ root, image }) => {
    await ok(root, [
      "run",
      "-d",
      "--name",
      "c1",
      image,
      "sh",
      "-c",
      "i=0; while :; do echo n$i; i=$((i+1)); sleep 0.1; done",
    ]);
    await ok(root, ["run", "-d", "--name", "c2", image, "sh", "-c", "sleep 1; exit 3"]);
    await ok(root, [
      "run",
      "-d",
      "--name",
      "c3",
      image,
      "sh",
      "-c",
      'trap "exit 5" TERM; while :; do sleep 0.1; done',
    ]);
    const pid1 = Number(await inspectField(root, "c1", "{{.State.Pid}}"));
    const supervisor = Number((await Deno.readTextFile(`${root}/supervisor.pid`)).trim());
    const monitor = Number((await Deno.readTextFile(`${root}/run/monitor.pid`)).trim());
    const before = (await ok(root, ["logs", "c1"])).trim().split("\n").length;

    // Hold the monitor so the supervisor stays down while c2 ends and c1 keeps writing.
    Deno.kill(monitor, "SIGSTOP");
    Deno.kill(supervisor, "SIGKILL");
    await until(() => !alive(supervisor), 5000, "supervisor gone");
    await new Promise((r) => setTimeout(r, 1500));
    assert(alive(pid1), "c1 still runs without its supervisor");
    Deno.kill(monitor, "SIGCONT");

    // Any command brings the (respawned) supervisor back.
    await until(async () => (await ctr(root, ["ps", "-q"])).code === 0, 10_000, "supervisor back");
    const newSupervisor = Number((await Deno.readTextFile(`${root}/supervisor.pid`)).trim());
    assert(newSupervisor !== supervisor, "a new supervisor runs");
    assertEquals(await inspectField(root, "c1", "{{.State.Status}} {{.State.Pid}}"), `running ${pid1}`);
    assertEquals(await inspectField(root, "c2", "{{.State.Status}} {{.State.ExitCode}}"), "exited 3");
    // Output written while the supervisor was down reached the log.
    await until(
      async () => (await ok(root, ["logs", "c1"])).trim().split("\n").length > before + 15,
      5000,
      "logs",
    );
    const lines = (await ok(root, ["logs", "c1"])).trim().split("\n");
    assertEquals(lines, lines.map((_, i) => `n${i}`));
    const ps = await ok(root, ["ps", "--format", "{{.Names}}"]);
    assertEquals(ps.trim().split("\n").sort(), ["c1", "c3"]);
    await ok(root, ["stop", "-t", "10", "c3"]);
    assertEquals(await inspectField(root, "c3", "{{.State.ExitCode}}"), "5");
    await ok(root, ["stop", "-t", "1", "c1"]);
    assertEquals(await inspectField(root, "c1", "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
    assert(!alive(pid1));
  },
);

rootTest(
  "runtime: a -t container keeps its terminal through a supervisor restart",
  async ({ root, image }) => {
    await ok(root, [
      "run",
      "-d",
      "-t",
      "--name",
      "tt",
      "--network",
      "none",
      image,
      "sh",
      "-c",
      "i=0; while :; do echo t$i; i=$((i+1)); sleep 0.1; done",
    ]);
    const pid = Number(await inspectField(root, "tt", "{{.State.Pid}}"));
    await new Promise((r) => setTimeout(r, 500));
    const supervisor = Number((await Deno.readTextFile(`${root}/supervisor.pid`)).trim());
    Deno.kill(supervisor, "SIGKILL");
    await until(() => !alive(supervisor), 5000, "supervisor gone");
    await new Promise((r) => setTimeout(r, 800));
    assert(alive(pid), "no hangup: the monitor holds the pty");
    await until(async () => (await ctr(root, ["ps", "-q"])).code === 0, 10_000, "supervisor back");
    const before = (await ok(root, ["logs", "tt"])).split("\n").length;
    await until(
      async () => (await ok(root, ["logs", "tt"])).split("\n").length > before + 3,
      5000,
      "tty output after restart",
    );
    await ok(root, ["rm", "-f", "tt"]);
  },
);

async function inBatches<T>(items: T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: width }, async () => {
    for (let x = queue.shift(); x !== undefined; x = queue.shift()) await fn(x);
  }));
}

async function duBytes(dir: string): Promise<number> {
  const out = await new Deno.Command("du", { args: ["-sb", dir], stdout: "piped" }).output();
  return Number(new TextDecoder().decode(out.stdout).split("\t")[0]);
}

rootTest(
  "runtime: 100 containers from one image add < 1 MB of disk each and run at once",
  async ({ root, image }) => {
    const names = Array.from({ length: 100 }, (_, i) => `many${i}`);
    await ok(root, ["run", "--rm", image, "true"]); // layers unpacked once, before measuring
    const before = await duBytes(root);
    await inBatches(
      names,
      4,
      async (n) => void await ok(root, ["run", "-d", "--name", n, image, "sleep", "600"]),
    );
    const perContainer = (await duBytes(root) - before) / names.length;
    assert(perContainer < 1024 * 1024, `each container added ${perContainer} bytes`);
    const running = (await ok(root, ["ps", "-q"])).trim().split("\n");
    assertEquals(running.length, 100);
    assertEquals((await ok(root, ["exec", "many57", "echo", "alive"])).trim(), "alive");
    await inBatches(names, 4, async (n) => void await ok(root, ["rm", "-f", n]));
    assertEquals(await ok(root, ["ps", "-aq"]), "");
  },
);
