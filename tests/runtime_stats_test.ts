/**
 * `stats`: BLOCK I/O (the cgroup's block counters, or — where a v1 kernel keeps none — the
 * storage I/O of the container's processes, children reaped by PID 1 included) and NET I/O
 * (the container's interfaces).
 */
import { assert, assertMatch } from "./assert.ts";
import { ok, rootTest, until } from "./runtime_helpers.ts";

const UNITS: Record<string, number> = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };

/** "10.5MB / 1.2kB" → [10_500_000, 1_200]. */
function pair(text: string): [number, number] {
  const m = /^([\d.]+)(B|kB|MB|GB|TB) \/ ([\d.]+)(B|kB|MB|GB|TB)$/.exec(text.trim());
  if (!m) throw new Error(`Not an I/O pair: ${text}`);
  return [Number(m[1]) * UNITS[m[2]], Number(m[3]) * UNITS[m[4]]];
}

rootTest("runtime: stats shows the block I/O and network I/O of a container", async ({ root, image }) => {
  // 10 MiB written with O_DIRECT (so it reaches the disk now), by a child that PID 1 reaps.
  await ok(root, [
    "run",
    "-d",
    "--name",
    "st1",
    image,
    "sh",
    "-c",
    "dd if=/dev/zero of=/data bs=64k count=160 oflag=direct 2>/dev/null; echo done; while :; do sleep 1; done",
  ]);
  await until(async () => (await ok(root, ["logs", "st1"])).includes("done"), 30_000, "dd");
  const gateway = (await ok(root, ["inspect", "-f", "{{.NetworkSettings.Gateway}}", "st1"])).trim();
  assertMatch(gateway, /^\d+\.\d+\.\d+\.\d+$/);
  // Traffic to the host end of its bridge (an address this test's network made).
  await ok(root, ["exec", "st1", "ping", "-c", "3", "-s", "1000", "-W", "2", gateway]);
  const row = await ok(root, ["stats", "--no-stream", "--format", "{{.BlockIO}}|{{.NetIO}}", "st1"]);
  const [block, net] = row.trim().split("|");
  const [, written] = pair(block);
  assert(written >= 10 * 1024 * 1024, `BLOCK I/O ${block}`);
  const [rx, tx] = pair(net);
  assert(rx >= 3000 && tx >= 3000, `NET I/O ${net}`);
  const json = JSON.parse(await ok(root, ["stats", "--no-stream", "--format", "json", "st1"]));
  assertMatch(json.BlockIO, / \/ /);
  await ok(root, ["rm", "-f", "st1"]);
});
