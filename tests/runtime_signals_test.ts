/**
 * `--sig-proxy` (signals the attached CLI receives reach the container, or do not) and
 * `wait --condition not-running|next-exit|removed`.
 */
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { ctr, REPO } from "./helpers.ts";
import { inspectField, ok, rootTest } from "./runtime_helpers.ts";

/** Starts `ctr ARGS` and resolves once its stdout has shown `marker`; the rest is collected. */
async function startUntil(root: string, args: string[], marker: string) {
  const child = new Deno.Command(`${REPO}/ctr`, {
    args: ["--root", root, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`ctr ${args.join(" ")} ended before "${marker}": ${out}`);
    out += value;
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return out;
      out += value;
    }
  })();
  const stderr = new Response(child.stderr).text();
  return { child, output: rest, stderr };
}

const TRAP = 'trap "echo got-usr1; exit 3" USR1; trap "echo got-term; exit 4" TERM; echo ready; ' +
  "while :; do sleep 0.1; done";

rootTest(
  "runtime: run --sig-proxy forwards the signals the CLI receives; --sig-proxy=false does not",
  async ({
    root,
    image,
  }) => {
    const proxied = await startUntil(root, ["run", "--name", "sp1", image, "sh", "-c", TRAP], "ready");
    proxied.child.kill("SIGUSR1");
    const status = await proxied.child.status;
    assertMatch(await proxied.output, /got-usr1/);
    assertEquals(status.code, 3);
    assertEquals(await inspectField(root, "sp1", "{{.State.ExitCode}}"), "3");

    // Without the proxy, SIGTERM ends the CLI only: the container runs on.
    const plain = await startUntil(root, [
      "run",
      "--sig-proxy=false",
      "--name",
      "sp2",
      image,
      "sh",
      "-c",
      TRAP,
    ], "ready");
    plain.child.kill("SIGTERM");
    const s2 = await plain.child.status;
    assertEquals(s2.signal ?? s2.code, s2.signal ? "SIGTERM" : 143);
    await plain.output;
    assertEquals(await inspectField(root, "sp2", "{{.State.Running}}"), "true");

    // attach proxies too (and not with --sig-proxy=false).
    const attached = await startUntil(root, ["attach", "sp2"], "");
    await new Promise((r) => setTimeout(r, 500));
    attached.child.kill("SIGTERM");
    assertEquals((await attached.child.status).code, 4);
    assertEquals(await inspectField(root, "sp2", "{{.State.ExitCode}}"), "4");
    await ok(root, ["rm", "sp1", "sp2"]);
  },
);

rootTest("runtime: wait --condition not-running, next-exit and removed", async ({ root, image }) => {
  await ok(root, ["create", "--name", "w1", image, "sh", "-c", "sleep 0.5; exit 5"]);
  // not-running: a container that is not running answers at once.
  assertEquals(await ok(root, ["wait", "w1"]), "0\n");
  // next-exit waits for the exit of a later start.
  const next = ctr(root, ["wait", "--condition", "next-exit", "w1"]);
  await new Promise((r) => setTimeout(r, 300));
  await ok(root, ["start", "w1"]);
  assertEquals((await next).stdout, "5\n");
  assertEquals(await ok(root, ["wait", "--condition", "not-running", "w1"]), "5\n");
  // removed: the exit code the container had when it went away.
  await ok(root, ["run", "-d", "--name", "w2", image, "sleep", "600"]);
  const removed = ctr(root, ["wait", "--condition=removed", "w2"]);
  const exited = ctr(root, ["wait", "--condition", "next-exit", "w2"]);
  await new Promise((r) => setTimeout(r, 300));
  await ok(root, ["kill", "w2"]);
  assertEquals((await exited).stdout, "137\n");
  await ok(root, ["rm", "w2"]);
  assertEquals((await removed).stdout, "137\n");
  const bad = await ctr(root, ["wait", "--condition", "stopped", "w1"]);
  assert(bad.code !== 0);
  assertMatch(bad.stderr, /invalid condition: "stopped"/);
});
