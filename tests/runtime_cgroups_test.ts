/**
 * cgroup limits end to end: memory (case 22: OOM kill → 137 and OOMKilled, a plain 137 is
 * not an OOM), pids (a fork bomb stops at the limit, the host stays responsive), CPU quota
 * (a busy loop at --cpus 0.5 uses about half a core, read from the cgroup's counters),
 * stats and top, and that every cgroup is gone after rm.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { ctr } from "./helpers.ts";
import { inspectField, ok, rootTest } from "./runtime_helpers.ts";
import { cgroupParentFor, detectCgroupLayout } from "../runtime/cgroups/mod.ts";
import { ContainerCgroup } from "../runtime/container_cgroup.ts";
import { containerCgroupNames } from "../runtime/teardown.ts";

rootTest(
  "runtime: case 22 — OOM kill at --memory 32m exits 137 with OOMKilled; exit 137 alone is not an OOM",
  async ({ root, image }) => {
    const oom = await ctr(root, [
      "run",
      "--name",
      "oom1",
      "--memory",
      "32m",
      "--memory-swap",
      "32m",
      image,
      "sh",
      "-c",
      'x=0123456789; while :; do x="$x$x"; done',
    ]);
    assertEquals(oom.code, 137);
    assertEquals(await inspectField(root, "oom1", "{{.State.ExitCode}} {{.State.OOMKilled}}"), "137 true");
    const fake = await ctr(root, ["run", "--name", "fake137", image, "sh", "-c", "exit 137"]);
    assertEquals(fake.code, 137);
    assertEquals(
      await inspectField(root, "fake137", "{{.State.ExitCode}} {{.State.OOMKilled}}"),
      "137 false",
    );
    const limit = await ctr(root, [
      "run",
      "--name",
      "ok1",
      "--memory",
      "32m",
      image,
      "sh",
      "-c",
      "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]);
    assertEquals([limit.code, limit.stdout], [0, "33554432\n"]);
    assertEquals(await inspectField(root, "ok1", "{{.State.OOMKilled}}"), "false");
    // The cgroups went away with the processes; the OOM flag was read before.
    assertEquals(containerCgroupNames(root), []);
  },
);

rootTest(
  "runtime: --pids-limit 20 stops a fork bomb while the host stays responsive",
  async ({ root, image }) => {
    await ok(root, [
      "run",
      "-d",
      "--name",
      "bomb",
      "--pids-limit",
      "20",
      image,
      "sh",
      "-c",
      "bomb() { bomb | bomb & }; bomb 2>/dev/null; sleep 600",
    ]);
    await new Promise((r) => setTimeout(r, 1500));
    const id = await inspectField(root, "bomb", "{{.Id}}");
    const cg = new ContainerCgroup(root, id);
    const stats = await cg.stats();
    assert(stats.pids <= 20 && stats.pids >= 10, `pids.current = ${stats.pids}`);
    assertEquals(stats.pidsLimit, 20);
    const t0 = performance.now();
    assertEquals((await new Deno.Command("true").output()).code, 0);
    assert(performance.now() - t0 < 2000, "the host can still start processes");
    await ok(root, ["rm", "-f", "bomb"]);
    assertEquals(containerCgroupNames(root), []);
  },
);

rootTest(
  "runtime: --cpus 0.5 caps a busy loop at half a core (the kernel throttles it); --cpu-shares is applied",
  async ({ root, image }) => {
    await ok(root, [
      "run",
      "-d",
      "--name",
      "busy",
      "--cpus",
      "0.5",
      "--cpu-shares",
      "512",
      image,
      "sh",
      "-c",
      "while :; do :; done",
    ]);
    const id = await inspectField(root, "busy", "{{.Id}}");
    const cg = new ContainerCgroup(root, id);
    await new Promise((r) => setTimeout(r, 300));
    const u0 = (await cg.stats()).cpuUsageNs, t0 = performance.now();
    await new Promise((r) => setTimeout(r, 2000));
    const u1 = (await cg.stats()).cpuUsageNs, t1 = performance.now();
    const cores = (u1 - u0) / 1e6 / (t1 - t0);
    // The quota caps it; how much it gets below the cap depends on what else this shared
    // machine runs, so the proof that the cap is enforced is the kernel's throttling count.
    assert(cores < 0.62, `busy loop used ${cores.toFixed(2)} cores`);
    // The loop's own cgroup, as the kernel names it for its process.
    const pid = await inspectField(root, "busy", "{{.State.Pid}}");
    const lines = (await Deno.readTextFile(`/proc/${pid}/cgroup`)).trim().split("\n");
    const layout = detectCgroupLayout();
    const cpuDir = cg.version === 1
      ? `${layout.v1.cpu}${lines.find((l) => /^\d+:[^:]*\bcpu\b[^:]*:/.test(l))!.split(":")[2]}`
      : `${layout.unified}${lines.find((l) => l.startsWith("0::"))!.slice(3)}`;
    const cpuStat = await Deno.readTextFile(`${cpuDir}/cpu.stat`);
    const throttled = Number(/^nr_throttled (\d+)$/m.exec(cpuStat)?.[1]);
    assert(throttled > 0, `the quota throttled the loop: ${cpuStat}`);
    if (cg.version === 1) {
      assertEquals((await Deno.readTextFile(`${cpuDir}/cpu.cfs_quota_us`)).trim(), "50000");
      assertEquals((await Deno.readTextFile(`${cpuDir}/cpu.cfs_period_us`)).trim(), "100000");
    } else {
      assertEquals((await Deno.readTextFile(`${cpuDir}/cpu.max`)).trim(), "50000 100000");
    }
    if (cg.version === 1) {
      const shares = await Deno.readTextFile(
        `/sys/fs/cgroup/cpu/${cgroupParentFor(root)}/${id}/cpu.shares`,
      );
      assertEquals(shares.trim(), "512");
    }
    const stats = await ok(root, [
      "stats",
      "--no-stream",
      "--format",
      "{{.Name}} {{.CPUPerc}} {{.PIDs}}",
      "busy",
    ]);
    assertMatch(stats.trim(), /^busy \d+\.\d\d% 1$/);
    const top = await ok(root, ["top", "busy"]);
    assertStringIncludes(top, "UID");
    assertStringIncludes(top, "while :; do :; done");
    await ok(root, ["rm", "-f", "busy"]);
  },
);
