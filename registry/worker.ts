/**
 * The sandboxed worker that handles every request of `ctr serve` (DESIGN.md §4). The main
 * thread creates it with only `net` on the listen address and `read`/`write` on the storage
 * root — no env, ffi, run or sys — and sends it {@linkcode ServerSettings} (TLS keys,
 * htpasswd entries and the token key already read), so nothing here needs to look outside
 * the root.
 *
 * Messages in: `{type:"start", settings}`, `{type:"shutdown"}`, `{type:"probe", path}` (tries
 * to read a file and reports the outcome — the sandbox test's direct attempt).
 * Messages out: `{type:"listening", hostname, port}`, `{type:"error", message}`,
 * `{type:"closed"}`, `{type:"probe", ok, error}`.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { type HttpServer, runHttpServer, type ServerSettings } from "./http_server.ts";

/** A message the main thread sends. */
export type WorkerRequest =
  | { type: "start"; settings: ServerSettings }
  | { type: "shutdown" }
  | { type: "probe"; path: string };

/** A message the worker sends. */
export type WorkerReply =
  | { type: "listening"; hostname: string; port: number }
  | { type: "error"; message: string }
  | { type: "closed" }
  | { type: "probe"; ok: boolean; error?: string };

let server: HttpServer | undefined;

function reply(msg: WorkerReply): void {
  self.postMessage(msg);
}

self.onmessage = async (e: MessageEvent<WorkerRequest>) => {
  const msg = e.data;
  switch (msg.type) {
    case "start":
      try {
        server = await runHttpServer(msg.settings);
        reply({ type: "listening", hostname: server.hostname, port: server.port });
      } catch (err) {
        reply({ type: "error", message: err instanceof Error ? err.message : String(err) });
      }
      break;
    case "shutdown":
      try {
        await server?.shutdown();
      } finally {
        reply({ type: "closed" });
      }
      break;
    case "probe":
      try {
        await Deno.readFile(msg.path);
        reply({ type: "probe", ok: true });
      } catch (err) {
        reply({
          type: "probe",
          ok: false,
          error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
        });
      }
      break;
  }
};
