/**
 * The container lifecycle end to end: detached runs and logs, stop semantics (case 21),
 * exec into running/stopped/missing containers (case 23), kill, restart policies,
 * pause/unpause, wait, rename, rm, prune, and --init reaping orphans.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { ctr } from "./helpers.ts";
import { inspectField, ok, rootTest, until } from "./runtime_helpers.ts";

rootTest(
  "runtime: -d runs in the background; logs keep stdout and stderr apart with timestamps",
  async ({ root, image }) => {
    const id = (await ok(root, [
      "run",
      "-d",
      "--name",
      "w1",
      image,
      "sh",
      "-c",
      "echo out1; echo err1 >&2; echo out2; sleep 30",
    ]))
      .trim();
    assertMatch(id, /^[0-9a-f]{64}$/);
    await until(async () => (await ctr(root, ["logs", "w1"])).stdout === "out1\nout2\n", 5000, "logs");
    const r = await ctr(root, ["logs", "w1"]);
    assertEquals([r.stdout, r.stderr], ["out1\nout2\n", "err1\n"]);
    // --tail counts lines of both streams together, in the order they were logged.
    const t = await ctr(root, ["logs", "-t", "--tail", "1", "w1"]);
    assertMatch(t.stdout + t.stderr, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (out2|err1)\n$/);
    assertEquals((await ctr(root, ["logs", "--since", "1h", "w1"])).stdout, "out1\nout2\n");
    assertEquals((await ctr(root, ["logs", "--until", "2000-01-01T00:00:00Z", "w1"])).stdout, "");
    // The log file is Docker's json-file.
    const line = (await Deno.readTextFile(`${root}/containers/${id}/${id}-json.log`)).split("\n")[0];
    const entry = JSON.parse(line);
    assertEquals(Object.keys(entry).sort(), ["log", "stream", "time"]);
    const ps = await ok(root, ["ps", "--format", "{{.Names}} {{.State}}"]);
    assertEquals(ps.trim(), "w1 running");
    assertEquals(
      await inspectField(root, "w1", "{{.State.Running}} {{.Name}} {{.Config.Image}}"),
      "true /w1 busybox",
    );
    await ok(root, ["rm", "-f", "w1"]);
    assertEquals(await ok(root, ["ps", "-aq"]), "");
  },
);

rootTest("runtime: logs -f follows until the container exits", async ({ root, image }) => {
  await ok(root, [
    "run",
    "-d",
    "--name",
    "f1",
    image,
    "sh",
    "-c",
    "for i in 1 2 3; do echo tick $i; sleep 0.3; done",
  ]);
  const r = await ctr(root, ["logs", "-f", "f1"]);
  assertEquals([r.code, r.stdout], [0, "tick 1\ntick 2\ntick 3\n"]);
});

rootTest(
  "runtime: case 21 — stop: SIGTERM to a PID 1 without handler is ignored; SIGKILL after -t; trapped and custom stop signals",
  async ({ root, image }) => {
    await ok(root, ["run", "-d", "--name", "s-ignore", image, "sleep", "600"]);
    await ok(root, [
      "run",
      "-d",
      "--name",
      "s-trap",
      image,
      "sh",
      "-c",
      'trap "exit 0" TERM; while :; do sleep 0.2; done',
    ]);
    await ok(root, [
      "run",
      "-d",
      "--name",
      "s-sig",
      "--stop-signal",
      "SIGUSR1",
      image,
      "sh",
      "-c",
      'trap "exit 7" USR1; while :; do sleep 0.2; done',
    ]);
    await ok(root, ["kill", "--signal", "TERM", "s-ignore"]);
    await new Promise((r) => setTimeout(r, 1000));
    assertEquals(await inspectField(root, "s-ignore", "{{.State.Status}}"), "running");

    const timed = async (args: string[]) => {
      const t0 = performance.now();
      const r = await ctr(root, args);
      return { ...r, seconds: (performance.now() - t0) / 1000 };
    };
    const ignore = await timed(["stop", "-t", "3", "s-ignore"]);
    assertEquals(ignore.code, 0);
    assert(ignore.seconds >= 2.8 && ignore.seconds < 6, `stop -t 3 took ${ignore.seconds}s`);
    const trap = await timed(["stop", "-t", "10", "s-trap"]);
    assert(trap.seconds < 3, `trapped stop took ${trap.seconds}s`);
    const sig = await timed(["stop", "-t", "10", "s-sig"]);
    assert(sig.seconds < 3, `custom signal stop took ${sig.seconds}s`);
    assertEquals(await inspectField(root, "s-ignore", "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
    assertEquals(await inspectField(root, "s-trap", "{{.State.ExitCode}}"), "0");
    assertEquals(await inspectField(root, "s-sig", "{{.State.ExitCode}}"), "7");
    // Stopping a stopped container succeeds and keeps its exit code.
    assertEquals((await ctr(root, ["stop", "s-sig"])).code, 0);
    assertEquals(await inspectField(root, "s-sig", "{{.State.ExitCode}}"), "7");
  },
);

rootTest("runtime: case 23 — exec into running, stopped and missing containers", async ({ root, image }) => {
  assertEquals((await ctr(root, ["run", "--name", "ex1", image, "true"])).code, 0);
  const t0 = performance.now();
  const stopped = await ctr(root, ["exec", "ex1", "echo", "hi"]);
  assert(performance.now() - t0 < 2000);
  assert(stopped.code !== 0);
  assertMatch(stopped.stderr, /not running/i);
  assertStringIncludes(stopped.stderr, "ex1");
  const missing = await ctr(root, ["exec", "does-not-exist", "echo", "hi"]);
  assert(missing.code !== 0);
  assertMatch(missing.stderr, /no such container/i);
  assert(!/not running/i.test(missing.stderr));
  assertEquals(await inspectField(root, "ex1", "{{.State.Status}} {{.State.ExitCode}}"), "exited 0");

  await ok(root, ["run", "-d", "--name", "ex2", "-e", "FROM_RUN=1", image, "sleep", "600"]);
  assertEquals(await ok(root, ["exec", "ex2", "echo", "hi"]), "hi\n");
  // exec joins every namespace: same hostname, same pid namespace (sleep is PID 1), same env base.
  const out = await ok(root, [
    "exec",
    "-e",
    "X=2",
    "-w",
    "/tmp",
    "-u",
    "app",
    "ex2",
    "sh",
    "-c",
    'hostname; cat /proc/1/cmdline | tr "\\0" " "; echo; echo $FROM_RUN$X; pwd; id -u',
  ]);
  const lines = out.trim().split("\n");
  assertEquals(lines[0], await inspectField(root, "ex2", "{{.Config.Hostname}}"));
  assertEquals(lines[1].trim(), "sleep 600");
  assertEquals(lines.slice(2), ["12", "/tmp", "1000"]);
  assertEquals((await ctr(root, ["exec", "ex2", "sh", "-c", "exit 9"])).code, 9);
  assertEquals((await ctr(root, ["exec", "ex2", "nope"])).code, 127);
  assertEquals(await ok(root, ["exec", "-i", "ex2", "cat"], { stdin: "through stdin\n" }), "through stdin\n");
  assertEquals((await ctr(root, ["exec", "-d", "ex2", "sh", "-c", "echo bg > /tmp/bg"])).code, 0);
  await until(
    async () => (await ctr(root, ["exec", "ex2", "cat", "/tmp/bg"])).stdout === "bg\n",
    5000,
    "exec -d",
  );
  await ok(root, ["stop", "-t", "1", "ex2"]);
  const after = await ctr(root, ["exec", "ex2", "echo", "hi"]);
  assert(after.code !== 0);
  assertMatch(after.stderr, /not running/i);
});

rootTest("runtime: kill, wait, restart, rename, pause/unpause, rm and prune", async ({ root, image }) => {
  await ok(root, ["run", "-d", "--name", "k1", image, "sleep", "600"]);
  const waiting = ctr(root, ["wait", "k1"]);
  await ok(root, ["kill", "k1"]);
  assertEquals((await waiting).stdout, "137\n");
  const notRunning = await ctr(root, ["kill", "k1"]);
  assert(notRunning.code !== 0);
  assertMatch(notRunning.stderr, /is not running/);

  await ok(root, ["restart", "k1"]);
  assertEquals(await inspectField(root, "k1", "{{.State.Status}}"), "running");
  await ok(root, ["rename", "k1", "k2"]);
  assertEquals(await inspectField(root, "k2", "{{.Name}}"), "/k2");
  assert((await ctr(root, ["inspect", "k1"])).code !== 0);

  await ok(root, [
    "run",
    "-d",
    "--name",
    "counter",
    image,
    "sh",
    "-c",
    "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done",
  ]);
  await new Promise((r) => setTimeout(r, 300));
  await ok(root, ["pause", "counter"]);
  assertEquals(await inspectField(root, "counter", "{{.State.Status}} {{.State.Paused}}"), "paused true");
  const rmPaused = await ctr(root, ["rm", "counter"]);
  assert(rmPaused.code !== 0);
  await ok(root, ["unpause", "counter"]);
  const n1 = Number(await ok(root, ["exec", "counter", "cat", "/tmp/n"]));
  await new Promise((r) => setTimeout(r, 400));
  const n2 = Number(await ok(root, ["exec", "counter", "cat", "/tmp/n"]));
  assert(n2 > n1, "the counter advances again after unpause");

  const rmRunning = await ctr(root, ["rm", "k2"]);
  assert(rmRunning.code !== 0);
  assertMatch(rmRunning.stderr, /You cannot remove a running container/);
  await ok(root, ["rm", "-f", "k2", "counter"]);
  await ok(root, ["run", "--name", "done1", image, "true"]);
  await ok(root, ["create", "--name", "created1", image, "true"]);
  const pruned = await ok(root, ["container", "prune", "-f"]);
  assertStringIncludes(pruned, "Deleted Containers:");
  assertEquals(await ok(root, ["container", "ls", "-aq"]), "");
});

rootTest(
  "runtime: restart policies — on-failure:N retries N times, always restarts until stopped",
  async ({ root, image }) => {
    await ok(root, ["run", "-d", "--name", "of", "--restart", "on-failure:2", image, "sh", "-c", "exit 3"]);
    await until(
      async () => (await inspectField(root, "of", "{{.State.Status}} {{.RestartCount}}")) === "exited 2",
      10_000,
      "on-failure retries",
    );
    assertEquals(await inspectField(root, "of", "{{.State.ExitCode}}"), "3");
    await ok(root, [
      "run",
      "-d",
      "--name",
      "al",
      "--restart",
      "always",
      image,
      "sh",
      "-c",
      "sleep 0.2; exit 0",
    ]);
    await until(
      async () => Number(await inspectField(root, "al", "{{.RestartCount}}")) >= 2,
      10_000,
      "always restarts",
    );
    await ok(root, ["stop", "-t", "1", "al"]);
    const count = await inspectField(root, "al", "{{.RestartCount}}");
    await new Promise((r) => setTimeout(r, 800));
    assertEquals(await inspectField(root, "al", "{{.State.Status}} {{.RestartCount}}"), `exited ${count}`);
    const bad = await ctr(root, ["run", "--rm", "--restart", "always", image, "true"]);
    assertEquals(bad.code, 125);
    assertMatch(bad.stderr, /Conflicting options: --restart and --rm/);
  },
);

rootTest(
  "runtime: --init reaps orphaned zombies and forwards signals; without it PID 1 is the command",
  async ({ root, image }) => {
    // The orphan (sleep 0.1, its parent subshell gone) is re-parented to PID 1 and must be reaped.
    const script = "(sleep 0.1 &); sleep 1; ps -o stat,comm | grep -c '^Z' || true";
    assertEquals((await ok(root, ["run", "--rm", "--init", image, "sh", "-c", script])).trim(), "0");
    const pid1 =
      (await ok(root, ["run", "--rm", "--init", image, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"]))
        .trim();
    assert(!pid1.startsWith("sh"), `PID 1 is the init, not the command: ${pid1}`);
    assertEquals((await ctr(root, ["run", "--rm", "--init", image, "sh", "-c", "exit 4"])).code, 4);
    await ok(root, ["run", "-d", "--init", "--name", "i1", image, "sleep", "600"]);
    const t0 = performance.now();
    await ok(root, ["stop", "-t", "10", "i1"]);
    assert(performance.now() - t0 < 3000, "the init forwards SIGTERM to sleep, which dies of it");
    assertEquals(await inspectField(root, "i1", "{{.State.ExitCode}}"), "143");
  },
);
