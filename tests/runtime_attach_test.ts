/**
 * Terminals and attached streams end to end: `run -it` under a real terminal (util-linux
 * `script` provides one) with the exit code passed through and the detach keys leaving the
 * container running; `attach` and `start -a`; and concurrent commands on one container.
 */
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { ctr, REPO } from "./helpers.ts";
import { inspectField, ok, rootTest, until } from "./runtime_helpers.ts";

/** Runs `./ctr ARGS` on a pseudo-terminal, typing `input` after `delayMs`. */
async function inTerminal(root: string, args: string[], input: string, delayMs = 1500) {
  const command = [`${REPO}/ctr`, "--root", root, ...args].map((a) => `'${a}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qfec", command, "/dev/null"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await new Promise((r) => setTimeout(r, delayMs));
  await w.write(new TextEncoder().encode(input));
  await w.close();
  const out = await child.output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

rootTest(
  "runtime: run -it — a shell on a raw terminal, its exit code passed through",
  async ({ root, image }) => {
    const r = await inTerminal(
      root,
      ["run", "-it", "--rm", "--network", "none", image, "sh"],
      "echo hi $((40+2))\nexit 3\n",
    );
    assertEquals(r.code, 3);
    // The container's pty turns \n into \r\n once; the client's raw terminal adds nothing.
    assertMatch(r.stdout, /\r\nhi 42\r\n/);
    assert(!r.stdout.includes("\r\r\n"), "output processing is off on the client's terminal");
  },
);

rootTest(
  "runtime: Ctrl-P Ctrl-Q detaches and leaves the container running; --detach-keys changes them",
  async ({ root, image }) => {
    const r = await inTerminal(
      root,
      ["run", "-it", "--name", "d1", "--network", "none", image, "sh"],
      "\x10\x11",
    );
    assertEquals(r.code, 0);
    assertEquals(await inspectField(root, "d1", "{{.State.Status}}"), "running");
    const r2 = await inTerminal(
      root,
      ["run", "-it", "--name", "d2", "--detach-keys", "ctrl-x", "--network", "none", image, "sh"],
      "\x18",
    );
    assertEquals(r2.code, 0);
    assertEquals(await inspectField(root, "d2", "{{.State.Status}}"), "running");
    // Attaching again and typing exit ends it.
    const a = await inTerminal(root, ["attach", "d2"], "exit 5\n", 800);
    assertEquals(a.code, 5);
    await until(
      async () => (await inspectField(root, "d2", "{{.State.Status}}")) === "exited",
      5000,
      "d2 exits",
    );
    await ok(root, ["rm", "-f", "d1", "d2"]);
  },
);

rootTest("runtime: attach to a container's streams, and start -a / -i", async ({ root, image }) => {
  await ok(root, ["run", "-d", "-i", "--name", "cat1", "--network", "none", image, "cat"]);
  const a = await ctr(root, ["attach", "cat1"], { stdin: "through attach\n" });
  // stdin reaches cat, cat's output comes back; at end of stdin cat ends, and so does attach.
  assertEquals([a.code, a.stdout], [0, "through attach\n"]);
  assertEquals(await inspectField(root, "cat1", "{{.State.Status}} {{.State.ExitCode}}"), "exited 0");
  await ok(root, ["create", "--name", "s1", "--network", "none", image, "sh", "-c", "echo started; exit 4"]);
  const s = await ctr(root, ["start", "-a", "s1"]);
  assertEquals([s.code, s.stdout], [4, "started\n"]);
  await ok(root, [
    "create",
    "-i",
    "--name",
    "s2",
    "--network",
    "none",
    image,
    "sh",
    "-c",
    "read x; echo got $x",
  ]);
  const i = await ctr(root, ["start", "-a", "-i", "s2"], { stdin: "value\n" });
  assertEquals([i.code, i.stdout], [0, "got value\n"]);
  const stopped = await ctr(root, ["attach", "s2"]);
  assert(stopped.code !== 0);
  assertMatch(stopped.stderr, /cannot attach to a stopped container/);
});

rootTest(
  "runtime: concurrent commands on one container and one name stay consistent",
  async ({ root, image }) => {
    // Ten runs racing for one name: exactly one wins, the others get Docker's conflict.
    const racers = await Promise.all(
      Array.from(
        { length: 10 },
        () => ctr(root, ["run", "-d", "--name", "same", "--network", "none", image, "sleep", "600"]),
      ),
    );
    assertEquals(
      racers.filter((r) => r.code === 0).length,
      1,
    );
    for (const r of racers.filter((r) => r.code !== 0)) assertMatch(r.stderr, /is already in use/);
    // Starts, stops, restarts and kills at once: every command answers, the state is one of Docker's.
    const ops = await Promise.all([
      ctr(root, ["stop", "-t", "1", "same"]),
      ctr(root, ["start", "same"]),
      ctr(root, ["restart", "-t", "1", "same"]),
      ctr(root, ["kill", "same"]),
      ctr(root, ["start", "same"]),
      ctr(root, ["pause", "same"]),
      ctr(root, ["unpause", "same"]),
    ]);
    for (const r of ops) assert(r.code === 0 || r.stderr.startsWith("ctr: "), r.stderr);
    const status = await inspectField(root, "same", "{{.State.Status}}");
    assert(["running", "exited", "paused"].includes(status), status);
    await ok(root, ["rm", "-f", "same"]);
    assertEquals(await ok(root, ["ps", "-aq"]), "");
  },
);

rootTest(
  "runtime: run pulls a missing image (--pull missing), honours --pull never",
  async ({ root, image }) => {
    const { withRegistry } = await import("./registry_helpers.ts");
    await withRegistry(async (reg) => {
      const name = `${reg.host}/rt/bb:1`;
      await ok(root, ["tag", image, name]);
      const pushed = await ctr(root, ["push", name], { env: { DOCKER_CONFIG: `${root}/.docker` } });
      assertEquals(pushed.code, 0, pushed.stderr);
      await ok(root, ["rmi", name]);
      const never = await ctr(root, ["run", "--rm", "--pull", "never", "--network", "none", name, "true"]);
      assertEquals(never.code, 125);
      assertMatch(never.stderr, /Unable to find image/);
      const r = await ctr(root, ["run", "--rm", "--network", "none", name, "echo", "pulled"], {
        env: { DOCKER_CONFIG: `${root}/.docker` },
      });
      assertEquals([r.code, r.stdout], [0, "pulled\n"]);
      assertMatch(r.stderr, /Unable to find image '.*rt\/bb:1' locally/);
      assertMatch(r.stderr, /Status: Downloaded newer image/);
    });
  },
);
