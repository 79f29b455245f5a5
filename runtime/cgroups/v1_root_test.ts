/**
 * Real cgroup v1 tests on this host's hierarchies (root only): real processes are moved into
 * a container cgroup, limited, frozen, OOM-killed, counted and cleaned away. Each test uses its
 * own state root name, so parallel runs never share a cgroup.
 */
import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { IS_ROOT } from "../../tests/helpers.ts";
import { detectCgroupLayout } from "./layout.ts";
import { CgroupsV1 } from "./v1.ts";
import { cgroupPathFor } from "./layout.ts";
import { sleep } from "./cgroups.ts";

const layout = IS_ROOT ? detectCgroupLayout() : null;
const HAS_V1 = layout !== null && layout.mode !== "v2" && "memory" in layout.v1;
const ignore = !IS_ROOT || !HAS_V1;

/** A process that waits for a line on stdin before running `script`. */
function spawnWaiting(script: string) {
  const child = new Deno.Command("/bin/busybox", {
    args: ["sh", "-c", `read _go; ${script}`],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const go = async () => {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode("go\n"));
    await w.close();
  };
  return { child, go };
}

async function withCgroup(fn: (cg: CgroupsV1) => Promise<void>) {
  const root = `/tmp/ctr-cgroup-test-${crypto.randomUUID()}`;
  const cg = new CgroupsV1(layout!.v1, cgroupPathFor(root, "c1"));
  await cg.create();
  try {
    await fn(cg);
  } finally {
    await cg.killAll().catch(() => {});
    await cg.destroy();
    for (const d of cg.dirs()) {
      assert(!(await exists(d)), `left behind: ${d}`);
      assert(!(await exists(d.slice(0, d.lastIndexOf("/")))), `parent left behind: ${d}`);
    }
  }
}

async function exists(p: string) {
  try {
    await Deno.lstat(p);
    return true;
  } catch {
    return false;
  }
}

const t = (name: string, fn: (cg: CgroupsV1) => Promise<void>) =>
  Deno.test({ name: `cgroups v1 (root): ${name}`, ignore, fn: () => withCgroup(fn) });

t("a real process joins every hierarchy and the limits read back", async (cg) => {
  await cg.setResources({ memory: 64 << 20, memorySwap: 64 << 20, pidsLimit: 20, cpuShares: 512 });
  const { child, go } = spawnWaiting("exit 0");
  await cg.addProcess(child.pid);
  const own = await Deno.readTextFile(`/proc/${child.pid}/cgroup`);
  for (const c of ["memory", "pids", "cpu", "freezer"]) {
    assert(own.split("\n").some((l) => l.includes(c) && l.endsWith(`/${cg.path}`)), `${c} in ${own}`);
  }
  assertEquals(await cg.pids(), [child.pid]);
  const s = await cg.stats();
  assertEquals(s.memory.limit, 64 << 20);
  assertEquals(s.pids, { current: 1, limit: 20 });
  assertEquals((await Deno.readTextFile(`${layout!.v1.cpu}/${cg.path}/cpu.shares`)).trim(), "512");
  await go();
  await child.output();
  assertEquals(await cg.pids(), []);
});

t("a 32m limit OOM-kills a growing process and the kill is counted", async (cg) => {
  await cg.setResources({ memory: 32 << 20, memorySwap: 32 << 20 });
  const { child, go } = spawnWaiting('x=0123456789; while :; do x="$x$x"; done');
  await cg.addProcess(child.pid);
  assert(!(await cg.oomKilled()));
  await go();
  const out = await child.output();
  assertEquals(out.signal, "SIGKILL");
  assertEquals(out.code, 137);
  assert(await cg.oomKilled(), "oom_kill counter");
  assert((await cg.stats()).memory.oomKills >= 1);
});

t("a process killed by SIGKILL otherwise is not reported as OOM", async (cg) => {
  await cg.setResources({ memory: 32 << 20, memorySwap: 32 << 20 });
  const { child, go } = spawnWaiting("kill -9 $$");
  await cg.addProcess(child.pid);
  await go();
  assertEquals((await child.output()).code, 137);
  assert(!(await cg.oomKilled()));
});

t("the eventfd fallback also sees the OOM kill", async (cg) => {
  await cg.setResources({ memory: 32 << 20, memorySwap: 32 << 20 });
  cg.startOomWatcher();
  const { child, go } = spawnWaiting('x=0123456789; while :; do x="$x$x"; done');
  await cg.addProcess(child.pid);
  assertEquals(await cg.oomKillCount(), 0);
  await go();
  assertEquals((await child.output()).code, 137);
  assert((await cg.oomKillCount()) >= 1);
});

t("freeze stops CPU use until thaw", async (cg) => {
  const { child, go } = spawnWaiting("while :; do :; done");
  await cg.addProcess(child.pid);
  await go();
  await sleep(100);
  await cg.freeze();
  assert(await cg.isFrozen());
  const a = (await cg.stats()).cpu.usageNs;
  await sleep(300);
  const b = (await cg.stats()).cpu.usageNs;
  assert(b - a < 10e6, `frozen process used ${(b - a) / 1e6} ms of CPU`);
  await cg.thaw();
  assert(!(await cg.isFrozen()));
  await sleep(500);
  const c = (await cg.stats()).cpu.usageNs;
  // Runs again (other tests load this machine too: it need not get a whole core).
  assert(c - b > 20e6, `thawed process used only ${(c - b) / 1e6} ms of CPU`);
  await cg.killAll();
  assertEquals((await child.output()).signal, "SIGKILL");
});

t("--cpus 0.5 holds a busy loop near half a core", async (cg) => {
  await cg.setResources({ cpuQuota: 50000, cpuPeriod: 100000 });
  const { child, go } = spawnWaiting("while :; do :; done");
  await cg.addProcess(child.pid);
  await go();
  await sleep(100);
  const a = (await cg.stats()).cpu.usageNs;
  const t0 = performance.now();
  await sleep(1000);
  const used = ((await cg.stats()).cpu.usageNs - a) / 1e6 / (performance.now() - t0);
  // Never above the quota; on a loaded machine (other tests run in parallel) it may get less.
  assert(used < 0.6, `busy loop used ${used.toFixed(2)} of a core`);
  if (used > 0.4) assert((await cg.stats()).cpu.throttledPeriods > 0, "throttled");
  assertEquals((await Deno.readTextFile(`${layout!.v1.cpu}/${cg.path}/cpu.cfs_quota_us`)).trim(), "50000");
  await cg.killAll();
  await child.output();
});

t("a pids limit of 20 stops a fork loop", async (cg) => {
  await cg.setResources({ pidsLimit: 20 });
  const { child, go } = spawnWaiting("i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done; wait");
  await cg.addProcess(child.pid);
  await go();
  // Wait until the count stops growing: the loop has run into the limit.
  let last = -1, n = 0;
  for (let i = 0; i < 200 && (n = (await cg.pids()).length) !== last; i++) {
    last = n;
    await sleep(50);
  }
  assert(n >= 15 && n <= 20, `${n} processes`);
  assert((await cg.stats()).pids.current <= 20);
  await cg.killAll();
  const out = await child.output();
  assertStringIncludes(new TextDecoder().decode(out.stderr), "fork");
  assertEquals(await cg.pids(), []);
});

t("device rules refuse a device not allowed", async (cg) => {
  await cg.setResources({
    devices: [
      { allow: false, type: "a", access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
    ],
  });
  const { child, go } = spawnWaiting(
    "echo x > /dev/null && echo null-ok; head -c1 /dev/zero >/dev/null 2>&1 || echo zero-denied",
  );
  await cg.addProcess(child.pid);
  await go();
  const out = await child.output();
  assertEquals(new TextDecoder().decode(out.stdout), "null-ok\nzero-denied\n");
});

t("killAll empties a cgroup with a process tree and destroy leaves nothing", async (cg) => {
  const { child, go } = spawnWaiting("sleep 30 & sleep 30 & sh -c 'sleep 30' & wait");
  await cg.addProcess(child.pid);
  await go();
  for (let i = 0; i < 100 && (await cg.pids()).length < 4; i++) await sleep(10);
  assert((await cg.pids()).length >= 4);
  await cg.killAll();
  assertEquals(await cg.pids(), []);
  await child.output();
});
