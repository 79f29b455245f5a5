/**
 * `exec` through the supervisor's warm exec helper: the process is born in the container's
 * pid namespace and cgroup, as the session leader, with its own argv[0], the container's
 * confinement, a tty of its own user with `-t`, and it ends with the container.
 */
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { ctr } from "./helpers.ts";
import { ok, rootTest, until } from "./runtime_helpers.ts";

rootTest(
  "runtime: exec (warm helper) — argv[0], session, cgroup, capabilities, repeated execs",
  async ({ root, image }) => {
    await ok(root, ["run", "-d", "--name", "e1", "--network", "none", image, "sleep", "600"]);
    // $0 is the argv[0] given, the process leads its own session, and its pid is the
    // container's (small, in the container's pid namespace).
    const out = await ok(root, [
      "exec",
      "e1",
      "sh",
      "-c",
      'echo "$0"; cut -d" " -f1,6 /proc/$$/stat; grep -c ":/$" /proc/$$/cgroup; grep CapEff /proc/$$/status',
    ]);
    const [argv0, stat, rootCgroups, capEff] = out.trim().split("\n");
    assertEquals(argv0, "sh");
    const [pid, sid] = stat.split(" ").map(Number);
    assertEquals(pid, sid, "session leader");
    assert(pid < 100, `pid ${pid} is the container's`);
    assert(Number(rootCgroups) > 0, "in the container's cgroup (its namespace root)");
    assertEquals(capEff, "CapEff:\t00000000a80425fb"); // Docker's default set
    // Back to back: each exec gets a helper (warm or, when none is ready, a cold one).
    for (let i = 0; i < 5; i++) assertEquals(await ok(root, ["exec", "e1", "echo", String(i)]), `${i}\n`);
    // Not executable: 126; a directory: 126; missing: 127.
    await ok(root, ["exec", "e1", "sh", "-c", "echo 'echo x' > /tmp/noexec"]);
    assertEquals((await ctr(root, ["exec", "e1", "/tmp/noexec"])).code, 126);
    assertEquals((await ctr(root, ["exec", "e1", "/tmp"])).code, 126);
    assertEquals((await ctr(root, ["exec", "e1", "/nope"])).code, 127);
  },
);

rootTest(
  "runtime: exec -t as a user gets a tty of its own; an exec ends with its container",
  async ({ root, image }) => {
    await ok(root, ["run", "-d", "--name", "e2", image, "sleep", "600"]);
    const r = await ctr(root, [
      "exec",
      "-t",
      "-u",
      "1000",
      "e2",
      "sh",
      "-c",
      'tty; stat -c %u "$(tty)"; id -u',
    ]);
    assertEquals(r.code, 0, r.stderr);
    const [tty, owner, uid] = r.stdout.replaceAll("\r", "").trim().split("\n");
    assertMatch(tty, /^\/dev\/pts\/\d+$/);
    assertEquals([owner, uid], ["1000", "1000"]);
    // A long exec is killed with its container and reports 137.
    const long = ctr(root, ["exec", "e2", "sleep", "600"]);
    await until(
      async () =>
        (await ok(root, ["top", "e2"])).includes("sleep 600\n") &&
        (await ok(root, ["top", "e2"])).split("\n").filter((l) => l.includes("sleep 600")).length >= 2,
      10_000,
      "exec",
    );
    await ok(root, ["kill", "e2"]);
    assertEquals((await long).code, 137);
  },
);
