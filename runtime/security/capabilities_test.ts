import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { IS_ROOT, REPO } from "../../tests/helpers.ts";
import {
  CAPABILITIES,
  capabilityMask,
  capabilityNames,
  capabilityNumber,
  computeCapabilities,
  containerCapabilitySets,
  DEFAULT_CAPABILITIES,
  normalizeCapability,
  parseStatusCapabilities,
  readCapabilities,
} from "./capabilities.ts";

Deno.test("capabilities: the table has the kernel's 41 names in number order", () => {
  assertEquals(CAPABILITIES.length, 41);
  assertEquals(new Set(CAPABILITIES).size, 41);
  const spot: [string, number][] = [
    ["CAP_CHOWN", 0],
    ["CAP_SETPCAP", 8],
    ["CAP_NET_RAW", 13],
    ["CAP_SYS_ADMIN", 21],
    ["CAP_SYS_RESOURCE", 24],
    ["CAP_MKNOD", 27],
    ["CAP_AUDIT_WRITE", 29],
    ["CAP_SETFCAP", 31],
    ["CAP_SYSLOG", 34],
    ["CAP_AUDIT_READ", 37],
    ["CAP_PERFMON", 38],
    ["CAP_BPF", 39],
    ["CAP_CHECKPOINT_RESTORE", 40],
  ];
  for (const [name, n] of spot) assertEquals(capabilityNumber(name), n, name);
});

Deno.test("capabilities: Docker's default set is the well-known mask", () => {
  assertEquals(DEFAULT_CAPABILITIES.length, 14);
  assertEquals(capabilityMask(DEFAULT_CAPABILITIES), 0xa80425fbn);
});

Deno.test("capabilities: names normalize with or without CAP_, in any case", () => {
  const table: [string, string][] = [
    ["NET_ADMIN", "CAP_NET_ADMIN"],
    ["cap_net_admin", "CAP_NET_ADMIN"],
    ["Sys_Admin", "CAP_SYS_ADMIN"],
    [" chown ", "CAP_CHOWN"],
    ["all", "ALL"],
  ];
  for (const [input, want] of table) assertEquals(normalizeCapability(input), want, input);
  for (const bad of ["", "CAP_", "NET_ADMINX", "CAP_ALL", "41"]) {
    assertThrows(() => normalizeCapability(bad), TypeError, "Unknown capability");
  }
});

Deno.test("capabilities: --cap-add/--cap-drop/--privileged compute as Docker does", () => {
  const D = [...DEFAULT_CAPABILITIES];
  const byNumber = (xs: string[]) => xs.sort((a, b) => capabilityNumber(a) - capabilityNumber(b));
  const table: [Parameters<typeof computeCapabilities>[0], string[]][] = [
    [{}, byNumber([...D])],
    [{ capAdd: ["NET_ADMIN"] }, byNumber([...D, "CAP_NET_ADMIN"])],
    [{ capDrop: ["chown", "cap_kill"] }, byNumber(D.filter((c) => c !== "CAP_CHOWN" && c !== "CAP_KILL"))],
    [{ capDrop: ["ALL"] }, []],
    [{ capDrop: ["all"], capAdd: ["net_bind_service", "CHOWN"] }, ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]],
    [{ capAdd: ["ALL"] }, [...CAPABILITIES]],
    [
      { capAdd: ["ALL"], capDrop: ["SYS_ADMIN", "NET_RAW"] },
      CAPABILITIES.filter((c) => c !== "CAP_SYS_ADMIN" && c !== "CAP_NET_RAW"),
    ],
    [{ capAdd: ["NET_RAW"], capDrop: ["NET_RAW"] }, byNumber([...D])], // add wins
    [{ privileged: true, capDrop: ["ALL"] }, [...CAPABILITIES]], // privileged ignores add/drop
    [{ base: [], capAdd: ["sys_time"] }, ["CAP_SYS_TIME"]],
  ];
  for (const [flags, want] of table) assertEquals(computeCapabilities(flags), want, JSON.stringify(flags));
  assertThrows(() => computeCapabilities({ capAdd: ["NOPE"] }), TypeError, '"NOPE"');
});

Deno.test("capabilities: masks and names round-trip", () => {
  for (const caps of [[], ["CAP_CHOWN"], [...DEFAULT_CAPABILITIES], [...CAPABILITIES]]) {
    const sorted = [...caps].sort((a, b) => capabilityNumber(a) - capabilityNumber(b));
    assertEquals(capabilityNames(capabilityMask(caps)), sorted);
  }
  assertEquals(capabilityNames(1n << 50n), ["CAP_50"]);
});

Deno.test("capabilities: container sets follow Docker (no inheritable, no ambient)", () => {
  const m = capabilityMask(DEFAULT_CAPABILITIES);
  assertEquals(containerCapabilitySets([...DEFAULT_CAPABILITIES]), {
    bounding: m,
    effective: m,
    permitted: m,
    inheritable: 0n,
    ambient: 0n,
  });
  assertEquals(containerCapabilitySets(["CAP_NET_BIND_SERVICE"], { ambient: true }).ambient, 1n << 10n);
});

Deno.test("capabilities: /proc status lines parse", () => {
  const status =
    "Name:\tsh\nCapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\n" +
    "CapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000400\nNoNewPrivs:\t1\n";
  assertEquals(parseStatusCapabilities(status), {
    inheritable: 0n,
    permitted: 0xa80425fbn,
    effective: 0xa80425fbn,
    bounding: 0xa80425fbn,
    ambient: 0x400n,
  });
});

/** Runs the probe: applies `spec` on its main thread, then execs busybox to print its status. */
async function probe(spec: Record<string, unknown>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${REPO}/tests/probes/exec_confined.ts`,
      JSON.stringify({ argv: ["/bin/busybox", "cat", "/proc/self/status"], ...spec }),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const status = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) throw new Error(`probe failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`);
  return {
    caps: parseStatusCapabilities(status),
    noNewPrivs: /^NoNewPrivs:\s*1$/m.test(status),
    uid: /^Uid:\s*(\d+)/m.exec(status)![1],
    stderr: new TextDecoder().decode(out.stderr),
  };
}

const hex = (sets: ReturnType<typeof containerCapabilitySets>) =>
  Object.fromEntries(Object.entries(sets).map(([k, v]) => [k, `0x${v.toString(16)}`]));

Deno.test({
  name: "capabilities (root): a process exec'd after applying the default set holds exactly it",
  ignore: !IS_ROOT,
  async fn() {
    const r = await probe({
      caps: hex(containerCapabilitySets([...DEFAULT_CAPABILITIES])),
      noNewPrivs: true,
    });
    const m = capabilityMask(DEFAULT_CAPABILITIES);
    assertEquals(r.caps, { bounding: m, effective: m, permitted: m, inheritable: 0n, ambient: 0n });
    assertEquals(r.noNewPrivs, true);
    // The test process itself was not touched.
    assertEquals(readCapabilities().bounding & m, m);
  },
});

Deno.test({
  name: "capabilities (root): --cap-drop ALL --cap-add NET_ADMIN leaves only NET_ADMIN",
  ignore: !IS_ROOT,
  async fn() {
    const caps = computeCapabilities({ capDrop: ["ALL"], capAdd: ["NET_ADMIN"] });
    const r = await probe({ caps: hex(containerCapabilitySets(caps)) });
    const m = 1n << 12n;
    assertEquals(r.caps, { bounding: m, effective: m, permitted: m, inheritable: 0n, ambient: 0n });
    assertEquals(r.noNewPrivs, false);
  },
});

Deno.test({
  name: "capabilities (root): a non-root user keeps ambient capabilities across execve, others none",
  ignore: !IS_ROOT,
  async fn() {
    const caps = ["CAP_NET_BIND_SERVICE"];
    const ambient = await probe({
      keepCaps: true,
      gid: 1000,
      uid: 1000,
      caps: hex(containerCapabilitySets(caps, { ambient: true })),
    });
    assertEquals(ambient.uid, "1000");
    const m = 1n << 10n;
    assertEquals(ambient.caps, { bounding: m, effective: m, permitted: m, inheritable: m, ambient: m });
    // Docker's way (no ambient): the user process has the bounding set and nothing else.
    const plain = await probe({
      keepCaps: true,
      gid: 1000,
      uid: 1000,
      caps: hex(containerCapabilitySets(caps)),
    });
    assertEquals(plain.caps, { bounding: m, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n });
  },
});

Deno.test({
  name: "capabilities (root): --privileged gets every capability the host can give, and says which it cannot",
  ignore: !IS_ROOT,
  async fn() {
    const host = readCapabilities();
    const r = await probe({ caps: hex(containerCapabilitySets(computeCapabilities({ privileged: true }))) });
    assertEquals(r.caps.permitted, host.permitted);
    assertEquals(r.caps.effective, host.permitted);
    const missing = capabilityNames(capabilityMask(CAPABILITIES) & ~host.permitted);
    assertEquals(r.stderr.trim(), missing.length ? `unavailable: ${missing.join(",")}` : "");
  },
});
