/**
 * The sandbox of `ctr serve` (DESIGN.md §4): the worker that handles requests holds `net` on
 * its listen address and `read`/`write` on its storage root, nothing else. Direct attempts
 * from inside that worker, and crafted requests, must not reach anything outside.
 *
 * @module
 */
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { errorCode, http, withRegistry } from "./registry_helpers.ts";
import type { ProbeOp, WorkerReply } from "../registry/worker.ts";
import type { RunningRegistry } from "../registry/server.ts";

function probe(
  reg: RunningRegistry,
  op: ProbeOp,
  path: string,
): Promise<{ ok: boolean; error?: string }> {
  const worker = reg.worker!;
  return new Promise((resolve) => {
    const listener = (e: MessageEvent<WorkerReply>) => {
      if (e.data.type !== "probe") return;
      worker.removeEventListener("message", listener);
      resolve(e.data);
    };
    worker.addEventListener("message", listener);
    worker.postMessage({ type: "probe", op, path });
  });
}

Deno.test("registry sandbox: the request worker cannot step outside its root and address", () =>
  withRegistry(async (reg, root) => {
    assert(reg.worker, "the registry runs in a worker");
    const outsideDir = await Deno.makeTempDir({ prefix: "ctr-outside-" });
    try {
      await Deno.writeTextFile(`${outsideDir}/secret`, "secret");
      const refused: [ProbeOp, string][] = [
        ["read", "/etc/hostname"],
        ["read", `${outsideDir}/secret`],
        ["read", `${root}/../${outsideDir.split("/").pop()}/secret`],
        ["write", `${outsideDir}/planted`],
        ["env", "HOME"],
        ["run", "true"],
        ["ffi", "libc.so.6"],
        ["sys", "hostname"],
        ["connect", "127.0.0.1:22"],
      ];
      for (const [op, path] of refused) {
        const r = await probe(reg, op, path);
        assertEquals(r.ok, false, `${op} ${path} must be refused`);
        assertMatch(r.error!, /^NotCapable/, `${op} ${path}`);
      }
      // Inside its grant it works (so the refusals above are the sandbox, not a broken probe).
      assertEquals((await probe(reg, "write", `${root}/probe-file`)).ok, true);
      assertEquals((await probe(reg, "read", `${root}/probe-file`)).ok, true);
      assertEquals((await probe(reg, "connect", reg.host)).ok, true);
      await Deno.remove(`${root}/probe-file`);
      assertEquals(await Deno.readTextFile(`${outsideDir}/secret`), "secret");
      assertEquals((await Array.fromAsync(Deno.readDir(outsideDir))).length, 1, "nothing planted outside");
    } finally {
      await Deno.remove(outsideDir, { recursive: true });
    }
  }));

Deno.test("registry sandbox: crafted paths are refused before they reach storage", () =>
  withRegistry(async (reg) => {
    const cases: [string, string, number, string | undefined][] = [
      ["GET", "/v2/..%2F..%2Fetc/blobs/sha256:" + "a".repeat(64), 400, "NAME_INVALID"],
      ["GET", "/v2/t/x/blobs/sha256:..%2F..%2F..%2Fetc%2Fpasswd", 400, "DIGEST_INVALID"],
      ["GET", "/v2/t/x/blobs/sha512:..%2F..%2Fetc", 400, "DIGEST_INVALID"],
      ["GET", "/v2/t/x/blobs/uploads/..%2F..%2Fregistry.db", 404, "BLOB_UPLOAD_UNKNOWN"],
      ["PATCH", "/v2/t/x/blobs/uploads/..%2Fblobs%2Fsha256%2Fx", 404, "BLOB_UPLOAD_UNKNOWN"],
      ["GET", "/v2/t/x/manifests/..%2F..%2Fregistry.db", 404, "MANIFEST_UNKNOWN"],
      ["GET", "/v2/t/x/referrers/..%2Fregistry.db", 400, "DIGEST_INVALID"],
      // Dot segments are resolved by URL parsing, leaving no route.
      ["GET", "/v2/%2e%2e/%2e%2e/tags/list", 404, "NOT_FOUND"],
    ];
    for (const [method, path, status, code] of cases) {
      const r = await http(reg.url, method, path, method === "PATCH" ? { body: "x" } : {});
      assertEquals([r.status, errorCode(r)], [status, code], `${method} ${path}`);
    }
  }));
