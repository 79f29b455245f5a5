import { assertEquals } from "../../tests/assert.ts";
import { IS_ROOT } from "../../tests/helpers.ts";
import { cgroupPathFor, detectCgroupLayout } from "../cgroups/layout.ts";
import type { Cgroups } from "../cgroups/cgroups.ts";
import { CgroupsV1 } from "../cgroups/v1.ts";
import { CgroupsV2 } from "../cgroups/v2.ts";
import { formatDeviceRule } from "../cgroups/cgroups.ts";
import { DEFAULT_DEVICE_RULES, DEFAULT_DEVICES } from "./devices.ts";

Deno.test("devices: the default nodes and their rules", () => {
  assertEquals(DEFAULT_DEVICES.map((d) => d.path), [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
  ]);
  assertEquals(DEFAULT_DEVICE_RULES.map((r) => `${r.allow ? "allow" : "deny"} ${formatDeviceRule(r)}`), [
    "deny a *:* rwm",
    "allow c 1:3 rwm",
    "allow c 1:5 rwm",
    "allow c 1:7 rwm",
    "allow c 1:8 rwm",
    "allow c 1:9 rwm",
    "allow c 5:0 rwm",
    "allow c 5:1 rwm",
    "allow c 5:2 rwm",
    "allow c 136:* rwm",
  ]);
});

const layout = IS_ROOT ? detectCgroupLayout() : null;
const backends: [string, (path: string) => Cgroups][] = [];
if (layout && "devices" in layout.v1) backends.push(["v1", (p) => new CgroupsV1(layout.v1, p)]);
if (layout?.unified) {
  const offered = Deno.readTextFileSync(`${layout.unified}/cgroup.controllers`);
  backends.push([
    "v2",
    (p) => new CgroupsV2(layout.unified!, p, offered.includes("memory") ? {} : { controllers: [] }),
  ]);
}

for (const [name, make] of backends) {
  Deno.test(`devices (root, cgroup ${name}): the default rules refuse mknod and use of other devices`, async () => {
    const cg = make(cgroupPathFor(`/tmp/ctr-devices-${crypto.randomUUID()}`, "c1"));
    const dir = await Deno.makeTempDir({ prefix: "ctr-dev-" });
    await cg.create();
    try {
      await cg.setResources({ devices: [...DEFAULT_DEVICE_RULES] });
      const script = [
        `mknod ${dir}/sda b 8 0 2>/dev/null && echo sda-made || echo sda-refused`,
        `mknod ${dir}/mem c 1 1 2>/dev/null && echo mem-made || echo mem-refused`,
        `mknod ${dir}/null c 1 3 && head -c1 ${dir}/null; echo null-made`,
        "head -c1 /dev/zero | wc -c",
      ].join("; ");
      const child = new Deno.Command("/bin/busybox", {
        args: ["sh", "-c", `read _; ${script}`],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      await cg.addProcess(child.pid);
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode("go\n"));
      await w.close();
      const out = await child.output();
      assertEquals(
        new TextDecoder().decode(out.stdout).split("\n").map((l) => l.trim()).join(" "),
        "sda-refused mem-refused null-made 1 ",
      );
    } finally {
      await cg.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
