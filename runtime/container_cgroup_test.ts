import { assertEquals } from "../tests/assert.ts";
import { cgroupViews } from "./container_cgroup.ts";

Deno.test("cgroup views: v1 hierarchies as mounted (co-mounted controllers stay together), none on v2", () => {
  assertEquals(
    cgroupViews({
      mode: "hybrid",
      v1: {
        cpu: "/sys/fs/cgroup/cpu,cpuacct",
        cpuacct: "/sys/fs/cgroup/cpu,cpuacct",
        memory: "/sys/fs/cgroup/memory",
        pids: "/sys/fs/cgroup/pids",
      },
      unified: "/sys/fs/cgroup/unified",
    }),
    [
      { dir: "cpu,cpuacct", options: "cpu,cpuacct" },
      { dir: "memory", options: "memory" },
      { dir: "pids", options: "pids" },
    ],
  );
  assertEquals(cgroupViews({ mode: "v2", v1: {}, unified: "/sys/fs/cgroup" }), undefined);
});
