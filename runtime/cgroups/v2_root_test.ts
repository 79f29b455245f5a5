/**
 * Real cgroup v2 tests (root only) on the host's cgroup2 mount. On a pure v2 host this covers
 * everything; on a hybrid host (like the development machine: memory, cpu, pids… are bound to
 * v1 hierarchies, and a private cgroup2 mount is the same hierarchy, so it cannot get them
 * either) the controller-free parts still run for real — joining, freezing through
 * `cgroup.freeze`, `cgroup.kill`, the BPF device program, removal — and the controller tests
 * are skipped with the reason in their name.
 */
import { assert, assertEquals } from "../../tests/assert.ts";
import { IS_ROOT } from "../../tests/helpers.ts";
import { cgroupPathFor, detectCgroupLayout } from "./layout.ts";
import { CgroupsV2 } from "./v2.ts";
import { parseKeyed, sleep } from "./cgroups.ts";

const layout = IS_ROOT ? detectCgroupLayout() : null;
const mount = layout?.unified ?? null;
const offered = mount ? Deno.readTextFileSync(`${mount}/cgroup.controllers`).trim().split(/\s+/) : [];
const HAS_MEMORY = offered.includes("memory") && offered.includes("pids");
const noV2 = !IS_ROOT || mount === null;

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

async function withCgroup(fn: (cg: CgroupsV2) => Promise<void>) {
  const root = `/tmp/ctr-cgroup-test-${crypto.randomUUID()}`;
  // Without controllers to use, do not touch the host's subtree_control at all.
  const cg = new CgroupsV2(mount!, cgroupPathFor(root, "c1"), HAS_MEMORY ? {} : { controllers: [] });
  await cg.create();
  try {
    await fn(cg);
  } finally {
    await cg.killAll().catch(() => {});
    await cg.destroy();
    const d = cg.dirs()[0];
    for (const p of [d, d.slice(0, d.lastIndexOf("/"))]) {
      let left = true;
      try {
        Deno.lstatSync(p);
      } catch {
        left = false;
      }
      assert(!left, `left behind: ${p}`);
    }
  }
}

const usageUsec = (cg: CgroupsV2) => parseKeyed(Deno.readTextFileSync(`${cg.dirs()[0]}/cpu.stat`)).usage_usec;

Deno.test({
  name: "cgroups v2 (root): a real process joins, freezes, thaws and is killed through cgroup.kill",
  ignore: noV2,
  fn: () =>
    withCgroup(async (cg) => {
      const { child, go } = spawnWaiting("while :; do :; done");
      await cg.addProcess(child.pid);
      assert((await Deno.readTextFile(`/proc/${child.pid}/cgroup`)).includes(`0::/${cg.path}\n`));
      assertEquals(await cg.pids(), [child.pid]);
      await go();
      await sleep(100);
      await cg.freeze();
      assert(await cg.isFrozen());
      const a = usageUsec(cg);
      await sleep(300);
      const b = usageUsec(cg);
      assert(b - a < 10_000, `frozen process used ${(b - a) / 1000} ms`);
      await cg.thaw();
      await sleep(500);
      assert(usageUsec(cg) - b > 20_000, "thawed process runs again");
      await cg.killAll();
      assertEquals(await cg.pids(), []);
      assertEquals((await child.output()).signal, "SIGKILL");
    }),
});

Deno.test({
  name: "cgroups v2 (root): the BPF device program refuses a device not allowed",
  ignore: noV2,
  fn: () =>
    withCgroup(async (cg) => {
      await cg.setResources({
        devices: [
          { allow: false, type: "a", access: "rwm" },
          { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
        ],
      });
      // Replacing the rules detaches the old program: still exactly one attached.
      await cg.setResources({
        devices: [
          { allow: false, type: "a", access: "rwm" },
          { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
          { allow: true, type: "c", major: 1, minor: 9, access: "r" },
        ],
      });
      const { child, go } = spawnWaiting(
        "echo x > /dev/null && echo null-ok; head -c1 /dev/zero >/dev/null 2>&1 || echo zero-denied; " +
          "head -c1 /dev/urandom >/dev/null && echo urandom-read; echo x 2>/dev/null >/dev/urandom || echo urandom-nowrite",
      );
      await cg.addProcess(child.pid);
      await go();
      const out = await child.output();
      assertEquals(
        new TextDecoder().decode(out.stdout),
        "null-ok\nzero-denied\nurandom-read\nurandom-nowrite\n",
      );
    }),
});

Deno.test({
  name: HAS_MEMORY
    ? "cgroups v2 (root): a 32m limit OOM-kills and memory.events counts it; pids.max holds"
    : "cgroups v2 (root): memory/pids limits — SKIPPED: no cgroup2 hierarchy here offers the memory " +
      "and pids controllers (they are bound to cgroup v1 hierarchies on this hybrid host)",
  ignore: noV2 || !HAS_MEMORY,
  fn: () =>
    withCgroup(async (cg) => {
      await cg.setResources({ memory: 32 << 20, memorySwap: 32 << 20, pidsLimit: 20 });
      assertEquals((await cg.stats()).memory.limit, 32 << 20);
      const { child, go } = spawnWaiting('x=0123456789; while :; do x="$x$x"; done');
      await cg.addProcess(child.pid);
      await go();
      assertEquals((await child.output()).code, 137);
      assert(await cg.oomKilled());
      assertEquals((await cg.stats()).pids.limit, 20);
    }),
});
