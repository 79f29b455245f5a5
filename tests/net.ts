/**
 * Helpers for network tests: throw-away network namespaces held by file descriptors,
 * commands run inside them (through `nsenter`, to observe — ctr itself never runs `ip`),
 * unique names and subnets that do not collide with other engineers' concurrent tests.
 *
 * @module
 */
import { createNetns, inNetns, netnsPath } from "../ffi/netns.ts";
import { libc } from "../ffi/libc.ts";

/** Output of a command run in a namespace. */
export interface NsResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command inside the network namespace held by `ns` and returns its output.
 *
 * @example
 * ```ts
 * const r = await nsRun(ns, ["ip", "-j", "addr"]);
 * ```
 */
export async function nsRun(ns: number, args: string[]): Promise<NsResult> {
  const out = await new Deno.Command("nsenter", {
    args: [`--net=${netnsPath(ns)}`, "--", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/**
 * `ip -j ARGS` in a namespace (or on the host with `ns` null), parsed.
 *
 * @example
 * ```ts
 * const links = await ipJson(ns, ["link"]);
 * ```
 */
export async function ipJson(ns: number | null, args: string[]): Promise<Record<string, unknown>[]> {
  const r = ns === null
    ? await new Deno.Command("ip", { args: ["-j", ...args], stdout: "piped", stderr: "piped" }).output()
      .then((o) => ({ code: o.code, stdout: new TextDecoder().decode(o.stdout), stderr: "" }))
    : await nsRun(ns, ["ip", "-j", ...args]);
  if (r.code !== 0) throw new Error(`ip ${args.join(" ")} failed: ${r.stderr}`);
  return JSON.parse(r.stdout || "[]");
}

/**
 * Spawns a long-running process inside the namespace held by `ns`.
 *
 * @example
 * ```ts
 * const httpd = spawnIn(ns, ["busybox", "httpd", "-f", "-p", "80", "-h", dir]);
 * ```
 */
export function spawnIn(ns: number, args: string[]): Deno.ChildProcess {
  return inNetns(
    ns,
    () =>
      new Deno.Command(args[0], { args: args.slice(1), stdout: "null", stderr: "null", stdin: "null" })
        .spawn(),
  );
}

/**
 * Runs `fn` with `count` fresh network namespaces and closes them afterwards (which destroys
 * them and every link inside).
 *
 * @example
 * ```ts
 * await withNetns(2, async ([host, container]) => { … });
 * ```
 */
export async function withNetns<T>(count: number, fn: (ns: number[]) => Promise<T> | T): Promise<T> {
  const fds: number[] = [];
  try {
    for (let i = 0; i < count; i++) fds.push(createNetns());
    return await fn(fds);
  } finally {
    for (const fd of fds) libc.close(fd);
  }
}

/**
 * A unique interface-name-safe token: `prefix` + random hex, at most 15 characters.
 *
 * @example
 * ```ts
 * uniqueName("ctrt"); // "ctrt3fa91c0b"
 * ```
 */
export function uniqueName(prefix = "ctrt"): string {
  const hex = crypto.getRandomValues(new Uint8Array(8)).reduce(
    (s, b) => s + b.toString(16).padStart(2, "0"),
    "",
  );
  return (prefix + hex).slice(0, 15);
}

/**
 * A random 10.x.y.0/24 that no address or route on the host uses. Concurrent tests each get
 * their own with overwhelming probability (65k choices, checked against what exists).
 *
 * @example
 * ```ts
 * const { subnet, gateway, prefix } = await freeSubnet(); // "10.123.45.0/24", "10.123.45.1", "10.123.45"
 * ```
 */
export async function freeSubnet(): Promise<{ subnet: string; gateway: string; prefix: string }> {
  const used = new Set<string>();
  for (const a of await ipJson(null, ["addr"])) {
    for (const i of (a.addr_info as { local: string }[]) ?? []) {
      used.add(i.local.split(".").slice(0, 3).join("."));
    }
  }
  for (const r of await ipJson(null, ["route"])) used.add(String(r.dst).split(".").slice(0, 3).join("."));
  // Subnets other ctr roots have claimed (their bridges may not be up yet).
  try {
    for (const e of Deno.readDirSync("/run/ctr/subnets")) {
      if (!e.name.startsWith(".")) used.add(e.name.split(".").slice(0, 3).join("."));
    }
  } catch { /* none */ }
  for (;;) {
    const [x, y] = crypto.getRandomValues(new Uint8Array(2));
    // Stay clear of ctr's default pools (10.88-10.91) and of 10.0/16 and 10.255/16 (often in use).
    if ((x >= 88 && x <= 91) || x === 0 || x === 255) continue;
    const prefix = `10.${x}.${y}`;
    if (used.has(prefix)) continue;
    return { subnet: `${prefix}.0/24`, gateway: `${prefix}.1`, prefix };
  }
}
