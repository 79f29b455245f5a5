import { assertEquals, assertMatch, assertNotEquals, assertThrows } from "../../tests/assert.ts";
import { cgroupParentFor, cgroupPathFor, parseCgroupMounts } from "./layout.ts";

const HYBRID = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
35 31 0:31 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
36 31 0:32 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

Deno.test("layout: a hybrid host resolves to v1 controllers plus the empty unified mount", () => {
  assertEquals(parseCgroupMounts(HYBRID), {
    mode: "hybrid",
    v1: {
      cpu: "/sys/fs/cgroup/cpu",
      cpuacct: "/sys/fs/cgroup/cpuacct",
      memory: "/sys/fs/cgroup/memory",
      pids: "/sys/fs/cgroup/pids",
    },
    unified: "/sys/fs/cgroup/unified",
  });
});

Deno.test("layout: a pure v2 host", () => {
  const text =
    "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
  assertEquals(parseCgroupMounts(text), { mode: "v2", v1: {}, unified: "/sys/fs/cgroup" });
});

Deno.test("layout: legacy v1 with co-mounted cpu,cpuacct and an escaped mount point", () => {
  const text = "32 31 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n" +
    "33 31 0:29 / /mnt/my\\040cgroups/memory rw - cgroup cgroup rw,memory\n" +
    "34 31 0:30 / /sys/fs/cgroup/net_cls rw - cgroup cgroup rw,net_cls\n";
  assertEquals(parseCgroupMounts(text), {
    mode: "v1",
    v1: {
      cpu: "/sys/fs/cgroup/cpu,cpuacct",
      cpuacct: "/sys/fs/cgroup/cpu,cpuacct",
      memory: "/mnt/my cgroups/memory",
    },
    unified: null,
  });
});

Deno.test("layout: cgroup names derive from the state root and stay apart", () => {
  assertMatch(cgroupParentFor("/var/lib/ctr"), /^ctr-[0-9a-f]{12}$/);
  assertEquals(cgroupParentFor("/tmp/a"), cgroupParentFor("/tmp/a"));
  assertNotEquals(cgroupParentFor("/tmp/a"), cgroupParentFor("/tmp/b"));
  assertEquals(cgroupPathFor("/tmp/a", "c1"), `${cgroupParentFor("/tmp/a")}/c1`);
  for (const bad of ["", "../x", "a/b", ".hidden", "x".repeat(200)]) {
    assertThrows(() => cgroupPathFor("/tmp/a", bad), TypeError);
  }
});
