/**
 * The Deno sandbox (DESIGN.md §4), proved by trying to step outside:
 *
 * - the registry's request worker (`ctr serve`) reads and writes its storage root and
 *   answers on its address, and nothing else: no /etc/shadow, no file beside the root, no
 *   spawn, no FFI, no env, no other socket;
 * - the launcher grants each subcommand the permissions of the README's table: the
 *   registry server, push, login and trust hold no FFI; image listing no network; `load` and
 *   `import FILE` (untrusted tarballs) no network and no spawn.
 *
 * @module
 */
import { assertEquals, assertMatch } from "./assert.ts";
import { ctr, withRoot } from "./helpers.ts";
import { startRegistry } from "../registry/server.ts";
import type { ProbeOp, WorkerReply } from "../registry/worker.ts";

function probe(worker: Worker, op: ProbeOp, path: string): Promise<string> {
  return new Promise((resolve) => {
    const on = (e: MessageEvent<WorkerReply>) => {
      if (e.data.type !== "probe") return;
      worker.removeEventListener("message", on);
      resolve(
        e.data.ok
          ? "ok"
          : /NotCapable|Requires \w+ access/.test(e.data.error ?? "")
          ? "NotCapable"
          : e.data.error!,
      );
    };
    worker.addEventListener("message", on);
    worker.postMessage({ type: "probe", op, path });
  });
}

Deno.test("sandbox: the registry worker holds its root and its address, nothing else", async () => {
  const base = await Deno.makeTempDir({ prefix: "ctr-sandbox-" });
  const root = `${base}/registry`;
  await Deno.mkdir(root);
  await Deno.writeTextFile(`${base}/beside.txt`, "secret");
  const other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const reg = await startRegistry({ root, addr: "127.0.0.1:0", accessLog: false, quiet: true });
  try {
    const w = reg.worker!;
    const realRoot = await Deno.realPath(root);
    const results: Record<string, string> = {};
    const attempts: [string, ProbeOp, string][] = [
      ["read inside the root", "read", `${realRoot}/docker/registry/v2/../../../`],
      ["write inside the root", "write", `${realRoot}/probe.txt`],
      ["read /etc/shadow", "read", "/etc/shadow"],
      ["read /etc/passwd", "read", "/etc/passwd"],
      ["read beside the root", "read", `${base}/beside.txt`],
      ["read beside the root through ..", "read", `${realRoot}/../beside.txt`],
      // Deno checks paths, not where symlinks lead, so the worker must not be able to make
      // one (or a hard link) that leads out: both need unscoped read and write.
      ["symlink out of the root", "symlink", `/etc/shadow=>${realRoot}/s`],
      ["symlink within the root", "symlink", `${realRoot}/probe.txt=>${realRoot}/s2`],
      ["hard link out of the root", "link", `${base}/beside.txt=>${realRoot}/h`],
      ["write /tmp", "write", `${base}/written.txt`],
      ["spawn", "run", "/bin/true"],
      ["dlopen libc", "ffi", "libc.so.6"],
      ["read env", "env", "HOME"],
      ["read the hostname", "sys", ""],
      ["connect to another port", "connect", `127.0.0.1:${(other.addr as Deno.NetAddr).port}`],
      ["connect to another host", "connect", "127.0.0.2:80"],
      ["listen on another port", "listen", "127.0.0.1:0"],
    ];
    for (const [what, op, path] of attempts) results[what] = await probe(w, op, path);
    // reading a directory fails with EISDIR, which still proves the read was allowed
    results["read inside the root"] = results["read inside the root"] === "NotCapable" ? "NotCapable" : "ok";
    assertEquals(results, {
      "read inside the root": "ok",
      "write inside the root": "ok",
      "read /etc/shadow": "NotCapable",
      "read /etc/passwd": "NotCapable",
      "read beside the root": "NotCapable",
      "read beside the root through ..": "NotCapable",
      "symlink out of the root": "NotCapable",
      "symlink within the root": "NotCapable",
      "hard link out of the root": "NotCapable",
      "write /tmp": "NotCapable",
      "spawn": "NotCapable",
      "dlopen libc": "NotCapable",
      "read env": "NotCapable",
      "read the hostname": "NotCapable",
      "connect to another port": "NotCapable",
      "connect to another host": "NotCapable",
      "listen on another port": "NotCapable",
    });
    // and it still serves
    const res = await fetch(`${reg.url}/v2/`);
    await res.body?.cancel();
    assertEquals(res.status, 200);
  } finally {
    await reg.stop();
    other.close();
    await Deno.remove(base, { recursive: true });
  }
});

/** The permission states `./ctr` gives one command line. */
async function grants(root: string, args: string[]): Promise<Record<string, string>> {
  const r = await ctr(root, args, { env: { CTR_PERMISSIONS_REPORT: "1" } });
  assertEquals(r.code, 0, r.stderr);
  const all = JSON.parse(r.stdout) as Record<string, string>;
  // "prompt" under --no-prompt is a refusal; sys granted in part reads as "prompt" too
  return Object.fromEntries(Object.entries(all).map(([k, v]) => [k, v === "granted" ? "yes" : "no"]));
}

Deno.test("sandbox: the launcher grants each command the permissions in the README table", () =>
  withRoot(async (root) => {
    const expect: [string[], string][] = [
      // args, granted set (read write net env run ffi)
      [["images"], "read write env"],
      [["image", "ls"], "read write env"],
      [["tag", "a", "b"], "read write env"],
      [["save", "x"], "read write env"],
      [["rmi", "x"], "read write env"],
      [["serve"], "read write net env"],
      [["push", "x"], "read write net env run"],
      [["login"], "read write net env run"],
      [["trust", "verify", "x"], "read write net env run"],
      [["load"], "read write env ffi"],
      [["image", "load"], "read write env ffi"],
      [["import", "rootfs.tar"], "read write env ffi"],
      [["import", "https://example.invalid/rootfs.tar"], "read write net env run ffi"],
      [["run", "busybox"], "read write net env run ffi"],
      [["version"], "read env"],
    ];
    const got: Record<string, string> = {};
    const want: Record<string, string> = {};
    for (const [args, granted] of expect) {
      const g = await grants(root, args);
      const key = args.join(" ");
      got[key] = ["read", "write", "net", "env", "run", "ffi"].filter((p) => g[p] === "yes").join(" ");
      want[key] = granted;
    }
    assertEquals(got, want);
    // global flags before the command do not change the choice
    const r = await ctr(root, ["--debug", "images"], { env: { CTR_PERMISSIONS_REPORT: "1" } });
    assertMatch(r.stdout, /"ffi":"prompt"/);
  }));
