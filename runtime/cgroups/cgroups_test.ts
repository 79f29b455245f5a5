/**
 * The shared cgroup suite: the same tests run against the v1 and the v2 backend, each on a
 * fake tree of plain files in a temp dir whose "kernel" (FakeKernel) fills new directories with
 * control files and imitates a few write semantics (subtree_control accumulates, freezing
 * reports frozen, killed pids leave cgroup.procs). No root needed.
 */
import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { SyscallError } from "../../ffi/errno.ts";
import type { CgroupResources, Cgroups, DeviceRule } from "./cgroups.ts";
import { parseBlkioServiceBytes, parseIoStat } from "./cgroups.ts";
import { type CgroupFs, fakeTreeFs } from "./fs.ts";
import { CgroupsV1 } from "./v1.ts";
import { CgroupsV2 } from "./v2.ts";
import { sharesToWeight } from "./resources.ts";

const write = (p: string, s: string) => Deno.writeTextFileSync(p, s);
const read = (p: string) => Deno.readTextFileSync(p);

interface Fixture {
  cg: Cgroups;
  /** Another container of the same state root (shares the parent). */
  sibling: Cgroups;
  /** Other state root. */
  fs: CgroupFs;
  base: string;
  /** All leaf directories of `cg`. */
  leafDirs: string[];
  /** Pretends the kernel charged pids to the leaf. */
  putPids(pids: number[]): void;
  /** Simulates counters. */
  setCounters(c: { memory: number; cpuNs: number; pids: number; oomKills: number; cache: number }): void;
  /** Expected control file contents (relative to the base) after applying RESOURCES. */
  expected: Record<string, string>;
  killed: [number, number][];
  devicesApplied: DeviceRule[][];
}

const RESOURCES: CgroupResources = {
  memory: 32 << 20,
  memorySwap: 64 << 20,
  memoryReservation: 16 << 20,
  cpuQuota: 50000,
  cpuPeriod: 100000,
  cpuShares: 512,
  cpusetCpus: "0",
  cpusetMems: "0",
  pidsLimit: 20,
};

const DEVICE_RULES: DeviceRule[] = [
  { allow: false, type: "a", access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
  { allow: true, type: "c", major: 136, access: "rw" },
];

function removeFromProcs(base: string, pid: number) {
  for (const entry of walk(base)) {
    if (entry.endsWith("/cgroup.procs")) {
      write(entry, read(entry).split("\n").filter((l) => l.trim() && Number(l) !== pid).join("\n"));
    }
  }
}

function* walk(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walk(p);
    else yield p;
  }
}

function v1Fixture(base: string): Fixture {
  const mounts: Record<string, string> = {
    memory: `${base}/memory`,
    cpu: `${base}/cpu,cpuacct`,
    cpuacct: `${base}/cpu,cpuacct`,
    cpuset: `${base}/cpuset`,
    pids: `${base}/pids`,
    freezer: `${base}/freezer`,
    devices: `${base}/devices`,
  };
  const files: Record<string, Record<string, string>> = {
    memory: {
      "memory.limit_in_bytes": "9223372036854771712",
      "memory.memsw.limit_in_bytes": "9223372036854771712",
      "memory.soft_limit_in_bytes": "9223372036854771712",
      "memory.usage_in_bytes": "0",
      "memory.max_usage_in_bytes": "0",
      "memory.stat": "cache 0\nrss 0\ntotal_cache 0\ntotal_inactive_file 0\n",
      "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
    },
    "cpu,cpuacct": {
      "cpu.shares": "1024",
      "cpu.cfs_quota_us": "-1",
      "cpu.cfs_period_us": "100000",
      "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
      "cpuacct.usage": "0",
      "cpuacct.stat": "user 0\nsystem 0\n",
    },
    cpuset: { "cpuset.cpus": "", "cpuset.mems": "" },
    pids: { "pids.max": "max", "pids.current": "0" },
    freezer: { "freezer.state": "THAWED" },
    devices: { "devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm" },
  };
  for (const [h, f] of Object.entries(files)) {
    Deno.mkdirSync(`${base}/${h}`);
    write(`${base}/${h}/cgroup.procs`, "");
    for (const [name, value] of Object.entries(f)) write(`${base}/${h}/${name}`, value);
  }
  write(`${base}/cpuset/cpuset.cpus`, "0-1");
  write(`${base}/cpuset/cpuset.mems`, "0");
  const fs = fakeTreeFs({
    onMkdir(dir) {
      const h = Object.keys(files).find((k) => dir.startsWith(`${base}/${k}/`))!;
      write(`${dir}/cgroup.procs`, "");
      for (const [name, value] of Object.entries(files[h])) write(`${dir}/${name}`, value);
    },
    onWrite(path, value, previous) {
      // The kernel appends a pid written to cgroup.procs (and drops it from the old cgroup).
      if (path.endsWith("/cgroup.procs")) return [previous, value].filter((x) => x?.trim()).join("\n");
      if (path.endsWith("/devices.allow") || path.endsWith("/devices.deny")) return `${previous}${value}\n`;
      return value;
    },
  });
  const killed: [number, number][] = [];
  const kill = (pid: number, sig: number) => {
    killed.push([pid, sig]);
    if (sig === 9) removeFromProcs(base, pid);
  };
  const cg = new CgroupsV1(mounts, "ctr-aaaa/c1", { fs, kill, timeoutMs: 500 });
  const sibling = new CgroupsV1(mounts, "ctr-aaaa/c2", { fs, kill, timeoutMs: 500 });
  const leaf = (h: string) => `${base}/${h}/ctr-aaaa/c1`;
  return {
    cg,
    sibling,
    fs,
    base,
    leafDirs: Object.keys(files).map(leaf),
    killed,
    devicesApplied: [],
    putPids(pids) {
      for (const h of Object.keys(files)) write(`${leaf(h)}/cgroup.procs`, pids.join("\n"));
    },
    setCounters(c) {
      write(`${leaf("memory")}/memory.usage_in_bytes`, String(c.memory));
      write(
        `${leaf("memory")}/memory.stat`,
        `cache ${c.cache}\ntotal_cache ${c.cache}\ntotal_inactive_file 7\n`,
      );
      write(
        `${leaf("memory")}/memory.oom_control`,
        `oom_kill_disable 0\nunder_oom 0\noom_kill ${c.oomKills}\n`,
      );
      write(`${leaf("cpu,cpuacct")}/cpuacct.usage`, String(c.cpuNs));
      write(`${leaf("cpu,cpuacct")}/cpuacct.stat`, "user 150\nsystem 50\n");
      write(`${leaf("pids")}/pids.current`, String(c.pids));
    },
    expected: {
      "memory/ctr-aaaa/c1/memory.limit_in_bytes": String(32 << 20),
      "memory/ctr-aaaa/c1/memory.memsw.limit_in_bytes": String(64 << 20),
      "memory/ctr-aaaa/c1/memory.soft_limit_in_bytes": String(16 << 20),
      "cpu,cpuacct/ctr-aaaa/c1/cpu.cfs_quota_us": "50000",
      "cpu,cpuacct/ctr-aaaa/c1/cpu.cfs_period_us": "100000",
      "cpu,cpuacct/ctr-aaaa/c1/cpu.shares": "512",
      "cpuset/ctr-aaaa/c1/cpuset.cpus": "0",
      "cpuset/ctr-aaaa/c1/cpuset.mems": "0",
      "pids/ctr-aaaa/c1/pids.max": "20",
    },
  };
}

function v2Fixture(base: string): Fixture {
  const controllerFiles: Record<string, Record<string, string>> = {
    memory: {
      "memory.max": "max",
      "memory.swap.max": "max",
      "memory.low": "0",
      "memory.current": "0",
      "memory.peak": "0",
      "memory.stat": "anon 0\nfile 0\ninactive_file 0\n",
      "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
    },
    cpu: { "cpu.max": "max 100000", "cpu.weight": "100" },
    cpuset: { "cpuset.cpus": "", "cpuset.mems": "" },
    pids: { "pids.max": "max", "pids.current": "0" },
    io: { "io.weight": "default 100" },
  };
  const core = (dir: string, controllers: string) => {
    write(`${dir}/cgroup.procs`, "");
    write(`${dir}/cgroup.controllers`, controllers);
    write(`${dir}/cgroup.subtree_control`, "");
    write(`${dir}/cgroup.events`, "populated 0\nfrozen 0\n");
    write(`${dir}/cgroup.freeze`, "0");
    write(`${dir}/cpu.stat`, "usage_usec 0\nuser_usec 0\nsystem_usec 0\n");
  };
  core(base, "cpuset cpu io memory hugetlb pids rdma misc");
  const fs = fakeTreeFs({
    onMkdir(dir) {
      const parent = dir.slice(0, dir.lastIndexOf("/"));
      const enabled = read(`${parent}/cgroup.subtree_control`).trim();
      core(dir, enabled);
      for (const c of enabled.split(" ").filter((x) => x)) {
        for (const [name, value] of Object.entries(controllerFiles[c] ?? {})) write(`${dir}/${name}`, value);
      }
    },
    onWrite(path, value, previous) {
      if (path.endsWith("/cgroup.subtree_control")) {
        const set = new Set((previous ?? "").split(" ").filter((x) => x));
        for (const tok of value.split(" ")) {
          if (tok.startsWith("+")) set.add(tok.slice(1));
          if (tok.startsWith("-")) set.delete(tok.slice(1));
        }
        return [...set].join(" ");
      }
      if (path.endsWith("/cgroup.freeze")) {
        const dir = path.slice(0, path.lastIndexOf("/"));
        write(`${dir}/cgroup.events`, `populated 1\nfrozen ${value.trim()}\n`);
      }
      if (path.endsWith("/cgroup.procs")) return [previous, value].filter((x) => x?.trim()).join("\n");
      return value;
    },
  });
  const killed: [number, number][] = [];
  const devicesApplied: DeviceRule[][] = [];
  const options = {
    fs,
    kill: (pid: number, sig: number) => {
      killed.push([pid, sig]);
      if (sig === 9) removeFromProcs(base, pid);
    },
    timeoutMs: 500,
    attachDevices: (_dir: string, rules: DeviceRule[]) => devicesApplied.push(rules),
  };
  const cg = new CgroupsV2(base, "ctr-aaaa/c1", options);
  const sibling = new CgroupsV2(base, "ctr-aaaa/c2", options);
  const leaf = `${base}/ctr-aaaa/c1`;
  return {
    cg,
    sibling,
    fs,
    base,
    leafDirs: [leaf],
    killed,
    devicesApplied,
    putPids(pids) {
      write(`${leaf}/cgroup.procs`, pids.join("\n"));
    },
    setCounters(c) {
      write(`${leaf}/memory.current`, String(c.memory));
      write(`${leaf}/memory.stat`, `anon 5\nfile ${c.cache}\ninactive_file 7\n`);
      write(`${leaf}/memory.events`, `oom ${c.oomKills + 1}\noom_kill ${c.oomKills}\n`);
      write(`${leaf}/cpu.stat`, `usage_usec ${c.cpuNs / 1000}\nuser_usec 1500000\nsystem_usec 500000\n`);
      write(`${leaf}/pids.current`, String(c.pids));
    },
    expected: {
      "ctr-aaaa/c1/memory.max": String(32 << 20),
      "ctr-aaaa/c1/memory.swap.max": String(32 << 20),
      "ctr-aaaa/c1/memory.low": String(16 << 20),
      "ctr-aaaa/c1/cpu.max": "50000 100000",
      "ctr-aaaa/c1/cpu.weight": String(sharesToWeight(512)),
      "ctr-aaaa/c1/cpuset.cpus": "0",
      "ctr-aaaa/c1/cpuset.mems": "0",
      "ctr-aaaa/c1/pids.max": "20",
      "cgroup.subtree_control": "cpu cpuset io memory pids hugetlb",
      "ctr-aaaa/cgroup.subtree_control": "cpu cpuset io memory pids hugetlb",
    },
  };
}

async function withFixture(make: (base: string) => Fixture, fn: (f: Fixture) => Promise<void>) {
  const base = await Deno.makeTempDir({ prefix: "ctr-fake-cgroup-" });
  try {
    await fn(make(base));
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

for (const [name, make] of [["v1", v1Fixture], ["v2", v2Fixture]] as const) {
  const t = (title: string, fn: (f: Fixture) => Promise<void>) =>
    Deno.test(`cgroups ${name} (fake tree): ${title}`, () => withFixture(make, fn));

  t("create makes the leaf under the per-root parent, idempotently", async (f) => {
    assert(!(await f.cg.exists()));
    await f.cg.create();
    await f.cg.create();
    assert(await f.cg.exists());
    for (const d of f.leafDirs) assert(f.fs.exists(d), d);
    assertEquals(f.cg.dirs().length, name === "v1" ? 6 : 1); // cpu,cpuacct share one hierarchy
  });

  t("setResources writes every limit to its control file", async (f) => {
    await f.cg.create();
    const warnings = await f.cg.setResources(RESOURCES);
    assertEquals(warnings, []);
    for (const [file, value] of Object.entries(f.expected)) {
      assertEquals(read(`${f.base}/${file}`).trim(), value, file);
    }
  });

  t("setResources with unlimited values writes the unlimited forms", async (f) => {
    await f.cg.create();
    await f.cg.setResources({ memory: -1, memorySwap: -1, cpuQuota: -1, pidsLimit: 0 });
    const files = name === "v1"
      ? { "memory/ctr-aaaa/c1/memory.limit_in_bytes": "-1", "pids/ctr-aaaa/c1/pids.max": "max" }
      : {
        "ctr-aaaa/c1/memory.max": "max",
        "ctr-aaaa/c1/cpu.max": "max 100000",
        "ctr-aaaa/c1/pids.max": "max",
      };
    for (const [file, value] of Object.entries(files)) {
      assertEquals(read(`${f.base}/${file}`).trim(), value, file);
    }
  });

  t("blkio weight without a weight file is a warning, not an error", async (f) => {
    await f.cg.create();
    if (name === "v2") Deno.removeSync(`${f.base}/ctr-aaaa/c1/io.weight`);
    const warnings = await f.cg.setResources({ blkioWeight: 300 });
    assertEquals(warnings.length, 1);
    assert(warnings[0].includes("Block I/O weight"));
  });

  t("device rules reach the device controller", async (f) => {
    await f.cg.create();
    await f.cg.setResources({ devices: DEVICE_RULES });
    if (name === "v1") {
      assertEquals(read(`${f.base}/devices/ctr-aaaa/c1/devices.deny`), "a\n");
      assertEquals(read(`${f.base}/devices/ctr-aaaa/c1/devices.allow`), "c 1:3 rwm\nc 136:* rw\n");
    } else {
      assertEquals(f.devicesApplied, [DEVICE_RULES]);
    }
    await assertRejects(
      () => f.cg.setResources({ devices: [{ allow: true, type: "x" as "a", access: "rwm" }] }),
      TypeError,
    );
  });

  t("pidsMaxFile names the pids limit file for a late write", async (f) => {
    await f.cg.create();
    const file = f.cg.pidsMaxFile(20)!;
    assertEquals(file.value, "20");
    f.fs.write(file.path, file.value);
    assertEquals((await f.cg.stats()).pids.limit, 20);
    assertEquals(f.cg.pidsMaxFile(0)!.value, "max");
  });

  t("addProcess lists the pid in every hierarchy's cgroup.procs", async (f) => {
    await f.cg.create();
    await f.cg.addProcess(4242);
    for (const d of f.cg.dirs()) assertEquals(read(`${d}/cgroup.procs`).trim(), "4242");
  });

  t("stats read the counters", async (f) => {
    await f.cg.create();
    await f.cg.setResources({ memory: 64 << 20, pidsLimit: 50 });
    f.setCounters({ memory: 5 << 20, cpuNs: 2_000_000_000, pids: 3, oomKills: 2, cache: 4096 });
    const s = await f.cg.stats();
    assertEquals(s.memory.usage, 5 << 20);
    assertEquals(s.memory.limit, 64 << 20);
    assertEquals(s.memory.cache, 4096);
    assertEquals(s.memory.inactiveFile, 7);
    assertEquals(s.memory.oomKills, 2);
    assertEquals(s.cpu.usageNs, 2_000_000_000);
    assertEquals(s.cpu.userNs, 1_500_000_000);
    assertEquals(s.cpu.systemNs, 500_000_000);
    assertEquals(s.pids, { current: 3, limit: 50 });
    assert(await f.cg.oomKilled());
  });

  t("stats report no limit as null", async (f) => {
    await f.cg.create();
    const s = await f.cg.stats();
    assertEquals(s.memory.limit, null);
    assertEquals(s.pids.limit, null);
    assert(!(await f.cg.oomKilled()));
  });

  t("freeze and thaw wait for the kernel's state", async (f) => {
    await f.cg.create();
    assert(!(await f.cg.isFrozen()));
    await f.cg.freeze();
    assert(await f.cg.isFrozen());
    await f.cg.thaw();
    assert(!(await f.cg.isFrozen()));
  });

  t("killAll signals every pid until the cgroup is empty", async (f) => {
    await f.cg.create();
    f.putPids([101, 102]);
    assertEquals(await f.cg.pids(), [101, 102]);
    await f.cg.killAll();
    assertEquals(await f.cg.pids(), []);
    if (name === "v1") assertEquals(f.killed, [[101, 9], [102, 9]]);
  });

  t("killAll with another signal sends it once and returns", async (f) => {
    await f.cg.create();
    f.putPids([7]);
    await f.cg.killAll(15);
    assertEquals(f.killed, [[7, 15]]);
    assertEquals(await f.cg.pids(), [7]);
  });

  t("destroy removes the leaf and the emptied parent, but not a parent still in use", async (f) => {
    await f.cg.create();
    await f.sibling.create();
    await f.cg.destroy();
    assert(!(await f.cg.exists()));
    assert(await f.sibling.exists());
    await f.sibling.destroy();
    for (const d of f.sibling.dirs()) {
      assert(!f.fs.exists(d.slice(0, d.lastIndexOf("/"))), `parent of ${d} left`);
    }
    await f.cg.destroy(); // already gone: fine
  });

  t("destroy removes child cgroups the container made", async (f) => {
    await f.cg.create();
    for (const d of f.cg.dirs()) f.fs.mkdir(`${d}/inner`);
    await f.cg.destroy();
    for (const d of f.cg.dirs()) assert(!f.fs.exists(d));
  });

  t("destroy gives up with EBUSY while processes stay", async (f) => {
    await f.cg.create();
    f.putPids([55]);
    const err = await assertRejects(() => f.cg.destroy({ timeoutMs: 50 }), SyscallError);
    assertEquals(err.code, "EBUSY");
  });

  t("a limit for a missing controller names the file", async (f) => {
    await f.cg.create();
    if (name === "v1") {
      const cg = new CgroupsV1({ memory: `${f.base}/memory` }, "ctr-aaaa/c1", { fs: f.fs });
      await assertRejects(() => cg.setResources({ pidsLimit: 5 }), Error, "pids controller is not mounted");
    } else {
      Deno.removeSync(`${f.base}/ctr-aaaa/c1/pids.max`);
      const err = await assertRejects(() => f.cg.setResources({ pidsLimit: 5 }), SyscallError);
      assertEquals(err.code, "ENOENT");
      assert(err.message.includes("pids controller is not enabled"), err.message);
    }
  });
}

Deno.test("cgroups v1 (fake tree): a new cpuset inherits cpus and mems from its parent", () =>
  withFixture(v1Fixture, async (f) => {
    await f.cg.create();
    assertEquals(read(`${f.base}/cpuset/ctr-aaaa/cpuset.cpus`), "0-1");
    assertEquals(read(`${f.base}/cpuset/ctr-aaaa/c1/cpuset.cpus`), "0-1");
    assertEquals(read(`${f.base}/cpuset/ctr-aaaa/c1/cpuset.mems`), "0");
  }));

Deno.test("cgroups v1 (fake tree): memsw is raised before memory and lowered after it", () =>
  withFixture(v1Fixture, async (f) => {
    await f.cg.create();
    const order: string[] = [];
    const mem = `${f.base}/memory/ctr-aaaa/c1`;
    write(`${mem}/memory.memsw.limit_in_bytes`, String(32 << 20));
    write(`${mem}/memory.limit_in_bytes`, String(32 << 20));
    const logging: CgroupFs = {
      ...f.fs,
      write(p, v) {
        order.push(p.slice(p.lastIndexOf("/") + 1));
        f.fs.write(p, v);
      },
    };
    const cg = new CgroupsV1({ memory: `${f.base}/memory` }, "ctr-aaaa/c1", { fs: logging });
    await cg.setResources({ memory: 64 << 20, memorySwap: 128 << 20 });
    assertEquals(order, ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]);
    order.length = 0;
    await cg.setResources({ memory: 16 << 20, memorySwap: 16 << 20 });
    assertEquals(order, ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]);
  }));

Deno.test("cgroups v1 (fake tree): a first allow-all device rule keeps the default open", () =>
  withFixture(v1Fixture, async (f) => {
    await f.cg.create();
    await f.cg.setResources({
      devices: [{ allow: true, type: "a", access: "rwm" }, {
        allow: false,
        type: "b",
        major: 8,
        access: "m",
      }],
    });
    assertEquals(read(`${f.base}/devices/ctr-aaaa/c1/devices.allow`), "a\n");
    assertEquals(read(`${f.base}/devices/ctr-aaaa/c1/devices.deny`), "b 8:* m\n");
  }));

Deno.test("cgroups v2 (fake tree): swap without a memory limit is refused", () =>
  withFixture(v2Fixture, async (f) => {
    await f.cg.create();
    await assertRejects(() => f.cg.setResources({ memorySwap: 64 << 20 }), RangeError, "Memory limit");
  }));

Deno.test("cgroups v2 (fake tree): only the controllers asked for are enabled", async () => {
  const base = await Deno.makeTempDir();
  try {
    const f = v2Fixture(base);
    const cg = new CgroupsV2(base, "ctr-bbbb/c1", { fs: f.fs, controllers: [] });
    await cg.create();
    assertEquals(read(`${base}/cgroup.subtree_control`), "");
    assert(f.fs.exists(`${base}/ctr-bbbb/c1/cgroup.freeze`));
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("cgroups: block I/O counters of v1 blkio and v2 io.stat are summed over devices", () => {
  assertEquals(
    parseBlkioServiceBytes(
      "8:0 Read 4096\n8:0 Write 512\n8:0 Sync 4608\n8:0 Total 4608\n254:0 Read 10\n254:0 Write 0\nTotal 4618\n",
    ),
    { readBytes: 4106, writeBytes: 512 },
  );
  assertEquals(parseBlkioServiceBytes("Total 0\n"), { readBytes: 0, writeBytes: 0 });
  assertEquals(
    parseIoStat(
      "8:0 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=0 dios=0\n254:0 rbytes=1 wbytes=2 rios=1 wios=1\n",
    ),
    { readBytes: 4097, writeBytes: 514 },
  );
  assertEquals(parseIoStat(""), { readBytes: 0, writeBytes: 0 });
});
