import { assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { IS_ROOT, REPO } from "../../tests/helpers.ts";
import { capabilityMask, computeCapabilities, DEFAULT_CAPABILITIES } from "./capabilities.ts";
import { confinementPlan, planFromJSON, planToJSON } from "./confine.ts";
import { parseSecurityOpts } from "./security_opt.ts";

Deno.test("confine: a plan survives JSON", () => {
  const plan = confinementPlan({
    caps: computeCapabilities({ capAdd: ["NET_ADMIN"] }),
    security: parseSecurityOpts([]),
    user: { uid: 1000, gid: 100, groups: [10, 20] },
    machine: "x86_64",
    kernel: "6.18",
  });
  const back = planFromJSON(JSON.parse(JSON.stringify(planToJSON(plan))));
  assertEquals(back, plan);
  assertEquals(plan.capabilities.bounding, capabilityMask([...DEFAULT_CAPABILITIES, "CAP_NET_ADMIN"]));
  assertEquals(plan.seccomp!.length % 8, 0);
  const unconfined = confinementPlan({
    caps: [],
    security: parseSecurityOpts(["seccomp=unconfined", "no-new-privileges=false"]),
    user: { uid: 0, gid: 0 },
  });
  assertEquals([unconfined.seccomp, unconfined.noNewPrivileges], [null, false]);
});

async function run(plan: ReturnType<typeof confinementPlan>, script: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${REPO}/tests/probes/exec_confined.ts`,
      JSON.stringify({ plan: planToJSON(plan), argv: ["/bin/busybox", "sh", "-c", script] }),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

const STATUS =
  "grep -E '^(Uid|Gid|Groups|CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status";

Deno.test({
  name: "confine (root): a default container process as root",
  ignore: !IS_ROOT,
  async fn() {
    const plan = confinementPlan({
      caps: computeCapabilities({}),
      security: parseSecurityOpts([]),
      user: { uid: 0, gid: 0 },
    });
    const r = await run(plan, `${STATUS}; unshare -u true 2>&1; true`);
    assertEquals(r.code, 0, r.stderr);
    for (
      const line of [
        "Uid:\t0\t0\t0\t0",
        "CapEff:\t00000000a80425fb",
        "CapBnd:\t00000000a80425fb",
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
        "Operation not permitted",
      ]
    ) assertStringIncludes(r.stdout, line);
  },
});

Deno.test({
  name: "confine (root): a non-root user with groups, no capabilities left, filter on",
  ignore: !IS_ROOT,
  async fn() {
    const plan = confinementPlan({
      caps: computeCapabilities({}),
      security: parseSecurityOpts([]),
      user: { uid: 1000, gid: 1000, groups: [27, 100] },
    });
    const r = await run(plan, STATUS);
    assertEquals(r.code, 0, r.stderr);
    for (
      const line of [
        "Uid:\t1000\t1000\t1000\t1000",
        "Gid:\t1000\t1000\t1000\t1000",
        "Groups:\t27 100",
        "CapEff:\t0000000000000000",
        "CapPrm:\t0000000000000000",
        "CapBnd:\t00000000a80425fb",
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
      ]
    ) assertStringIncludes(r.stdout, line);
  },
});

Deno.test({
  name: "confine (root): without no_new_privs the filter is installed before capabilities drop",
  ignore: !IS_ROOT,
  async fn() {
    const plan = confinementPlan({
      caps: computeCapabilities({ capDrop: ["ALL"] }),
      security: parseSecurityOpts(["no-new-privileges=false"]),
      user: { uid: 1000, gid: 1000 },
    });
    const r = await run(plan, STATUS);
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(r.stdout, "NoNewPrivs:\t0");
    assertStringIncludes(r.stdout, "Seccomp:\t2");
    assertStringIncludes(r.stdout, "CapBnd:\t0000000000000000");
  },
});
