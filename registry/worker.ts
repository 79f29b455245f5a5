/**
 * The sandboxed worker that handles every request of `ctr serve` (DESIGN.md §4). The main
 * thread creates it with only `net` on the listen address and `read`/`write` on the storage
 * root — no env, ffi, run or sys — and sends it {@linkcode ServerSettings} (TLS keys,
 * htpasswd entries and the token key already read), so nothing here needs to look outside
 * the root.
 *
 * Messages in: `{type:"start", settings}`, `{type:"shutdown"}`, `{type:"probe", path, op?}`
 * (tries one operation — read (default) or write a file, spawn a program, dlopen a library,
 * read an env variable or the hostname, connect to or listen on `host:port` — and reports
 * the outcome: the sandbox test's direct attempts to step outside).
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
  | { type: "probe"; path: string; op?: ProbeOp };

/** What a probe tries. */
export type ProbeOp =
  | "read"
  | "write"
  | "symlink"
  | "link"
  | "run"
  | "ffi"
  | "env"
  | "sys"
  | "connect"
  | "listen";

async function probe(op: ProbeOp, target: string): Promise<void> {
  switch (op) {
    case "read":
      await Deno.readFile(target);
      return;
    case "write":
      await Deno.writeTextFile(target, "probe");
      return;
    case "symlink":
    case "link": {
      // target: "from=>to" (a link at `to` naming `from`)
      const [from, to] = target.split("=>");
      await (op === "symlink" ? Deno.symlink(from, to) : Deno.link(from, to));
      return;
    }
    case "run":
      await new Deno.Command(target).output();
      return;
    case "ffi":
      Deno.dlopen(target, {}).close();
      return;
    case "env":
      Deno.env.get(target);
      return;
    case "sys":
      Deno.hostname();
      return;
    case "connect": {
      const [hostname, port] = [
        target.slice(0, target.lastIndexOf(":")),
        Number(target.slice(target.lastIndexOf(":") + 1)),
      ];
      (await Deno.connect({ hostname, port })).close();
      return;
    }
    case "listen": {
      const [hostname, port] = [
        target.slice(0, target.lastIndexOf(":")),
        Number(target.slice(target.lastIndexOf(":") + 1)),
      ];
      Deno.listen({ hostname, port }).close();
      return;
    }
  }
}

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
        await probe(msg.op ?? "read", msg.path);
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
