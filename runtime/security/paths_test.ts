import { assertEquals } from "../../tests/assert.ts";
import { IS_ROOT, REPO } from "../../tests/helpers.ts";
import { MASKED_PATHS, READONLY_PATHS } from "./paths.ts";

Deno.test("paths: Docker's masked and read-only lists", () => {
  assertEquals(MASKED_PATHS.length, 11);
  assertEquals(READONLY_PATHS, ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]);
  for (const p of [...MASKED_PATHS, ...READONLY_PATHS]) {
    assertEquals(p.startsWith("/proc/") || p.startsWith("/sys/"), true);
  }
});

Deno.test({
  name: "paths (root): masked paths read empty, read-only paths refuse writes, devices are in place",
  ignore: !IS_ROOT,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "ctr-paths-" });
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${REPO}/tests/probes/mount_probe.ts`, root],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(out.stderr);
      assertEquals(out.code, 0, err);
      const r = JSON.parse(new TextDecoder().decode(out.stdout));
      // Every listed path this kernel has is masked / read-only (this one lacks /proc/kcore and
      // /proc/sysrq-trigger, for instance).
      const exists = (p: string) => {
        try {
          Deno.lstatSync(p);
          return true;
        } catch {
          return false;
        }
      };
      assertEquals(r.masked, MASKED_PATHS.filter(exists));
      assertEquals(r.readonly, READONLY_PATHS.filter(exists));
      if (exists("/proc/kcore")) assertEquals(r.kcore, "ok:0");
      if (exists("/proc/sysrq-trigger")) assertEquals(r.sysrq, "EROFS");
      assertEquals(r.keysRead, "ok:0");
      assertEquals(r.timerList, "ok:0");
      assertEquals(r.firmware, "ok:0");
      assertEquals(r.firmwareWrite, "EROFS");
      assertEquals(r.sysctlWrite, "EROFS");
      assertEquals(r.sysctlRead, "ok:6"); // "Linux\n": still readable
      assertEquals(r.null, { char: true, rdev: 0x103, mode: 0o666 });
      assertEquals(r.ptmx, "pts/ptmx");
      assertEquals(r.nullWrite, "ok");
      // Nothing leaked into this mount namespace.
      const mounts = await Deno.readTextFile("/proc/self/mountinfo");
      assertEquals(mounts.includes(root), false);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
