/**
 * Benchmark: `ctr serve` against the CNCF distribution registry (Debian's `docker-registry`,
 * started by `tests/peers/distribution.sh`), side by side on this machine:
 *
 * - skopeo push of a ~400 MB 5-layer image into a fresh registry (MB/s);
 * - skopeo pull of the same image into a fresh OCI layout (MB/s);
 * - `wrk` with 16 connections on a manifest GET and on a 1 MiB blob GET (requests/s).
 *
 * Each run starts both registries fresh and measures all four on each, alternating, so that
 * other load on the machine hits both alike; the table shows medians.
 *
 * Both registries run with their default logging to a file (ctr: one JSON access-log line
 * per request; distribution: level error, as the peer script configures it). Push and pull
 * are bounded by skopeo itself on this 2-core machine, so the bench also prints the CPU
 * time each server spent per push and pull.
 *
 *     deno run -A --unstable-worker-options bench/registry.ts [--runs N] [--duration S]
 *
 * The image is generated once into `bench/results/registry-cache/` (`BENCH_LAYER_MB`
 * changes the layer size, default 80).
 *
 * @module
 */
import { createGzip } from "node:zlib";
import { Readable } from "node:stream";
import { digestOf, Hasher } from "../image/digest.ts";
import { MediaType } from "../image/oci.ts";
import { skopeo, startDistribution } from "../tests/peers/distribution.ts";
import { record } from "./report.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = `${REPO}/bench/results/registry-cache`;
const LAYER_MB = Number(Deno.env.get("BENCH_LAYER_MB") ?? 80);
const arg = (name: string, def: number) => {
  const i = Deno.args.indexOf(name);
  return i !== -1 ? Number(Deno.args[i + 1]) : def;
};
const RUNS = arg("--runs", 3);
const DURATION = arg("--duration", 10);

/** A gzip layer of random bytes in a tar (incompressible, like real compressed content). */
async function randomLayer(dir: string, mb: number, name: string) {
  const tmp = `${dir}/tmp-${name}`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  const tarHash = new Hasher(), gzHash = new Hasher();
  const gz = createGzip({ level: 1 });
  const done = (async () => {
    for await (const chunk of gz as AsyncIterable<Uint8Array>) {
      gzHash.update(chunk);
      let o = 0;
      while (o < chunk.length) o += await file.write(chunk.subarray(o));
    }
  })();
  // A one-file tar: 512-byte header, the data, padding, two zero blocks.
  const size = mb << 20;
  const header = new Uint8Array(512);
  const enc = new TextEncoder();
  const put = (s: string, off: number) => header.set(enc.encode(s), off);
  put(`${name}.bin`, 0);
  put("0000644\0", 100);
  put("0000000\0", 108);
  put("0000000\0", 116);
  put(size.toString(8).padStart(11, "0") + "\0", 124);
  put("14000000000\0", 136);
  put("        ", 148);
  header[156] = 48;
  put("ustar\0" + "00", 257);
  const sum = header.reduce((a, b) => a + b, 0);
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  async function* tar() {
    yield header;
    for (let o = 0; o < size; o += 1 << 20) {
      const block = new Uint8Array(1 << 20);
      for (let p = 0; p < block.length; p += 65536) crypto.getRandomValues(block.subarray(p, p + 65536));
      yield block;
    }
    yield new Uint8Array(1024);
  }
  await new Promise<void>((resolve, reject) => {
    const src = Readable.from((async function* () {
      for await (const b of tar()) {
        tarHash.update(b);
        yield b;
      }
    })());
    src.pipe(gz).on("error", reject);
    gz.on("end", resolve);
  });
  await done;
  file.close();
  const digest = gzHash.digest();
  await Deno.rename(tmp, `${dir}/blobs/sha256/${digest.slice(7)}`);
  return {
    blob: { mediaType: MediaType.OCI_LAYER_GZIP, digest, size: gzHash.size },
    diffId: tarHash.digest(),
  };
}

/** The OCI layout of the bench image (tag `1`), generated once. */
async function buildLayout(): Promise<{ dir: string; bytes: number }> {
  const dir = `${CACHE}/layout-${LAYER_MB}`;
  try {
    return { dir, ...JSON.parse(await Deno.readTextFile(`${dir}/bench.json`)) };
  } catch { /* build it */ }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  console.log(`generating 5 layers of ${LAYER_MB} MB into ${dir} …`);
  const layers = [];
  for (let i = 0; i < 5; i++) layers.push(await randomLayer(dir, LAYER_MB, `layer${i}`));
  const write = async (bytes: Uint8Array, mediaType: string) => {
    const digest = digestOf(bytes);
    await Deno.writeFile(`${dir}/blobs/sha256/${digest.slice(7)}`, bytes);
    return { mediaType, digest, size: bytes.length };
  };
  const enc = new TextEncoder();
  const config = await write(
    enc.encode(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    })),
    MediaType.OCI_CONFIG,
  );
  const manifest = await write(
    enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config,
      layers: layers.map((l) => l.blob),
    })),
    MediaType.OCI_MANIFEST,
  );
  const bytes = layers.reduce((n, l) => n + l.blob.size, 0) + config.size + manifest.size;
  await Deno.writeTextFile(
    `${dir}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...manifest, annotations: { "org.opencontainers.image.ref.name": "1" } }],
    }),
  );
  await Deno.writeTextFile(`${dir}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await Deno.writeTextFile(`${dir}/bench.json`, JSON.stringify({ bytes }));
  return { dir, bytes };
}

interface Registry {
  host: string;
  /** The server process, for its CPU time. */
  pid: number;
  stop(): Promise<void>;
}

/** CPU seconds (user + system) a process has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1].split(" ");
  return (Number(stat[11]) + Number(stat[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** `./ctr serve` on a free port in a fresh root, its log in a file. */
async function startCtr(): Promise<Registry> {
  const dir = await Deno.makeTempDir({ prefix: "ctr-bench-serve-" });
  const log = await Deno.open(`${dir}/serve.log`, { write: true, create: true });
  const child = new Deno.Command(`${REPO}/ctr`, {
    args: ["--root", `${dir}/state`, "serve", "--addr", "127.0.0.1:0"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  child.stderr.pipeTo(log.writable).catch(() => {});
  const reader = child.stdout.getReader();
  let out = "";
  let url: string | undefined;
  while (!url) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`ctr serve did not start: see ${dir}/serve.log`);
    out += new TextDecoder().decode(value);
    url = /listening on (\S+)/.exec(out)?.[1];
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return {
    host: new URL(url).host,
    pid: child.pid,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function wrk(url: string, headers: Record<string, string> = {}): Promise<number> {
  const args = ["-t2", "-c16", `-d${DURATION}s`, "--latency"];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  const out = await new Deno.Command("wrk", { args: [...args, url], stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  const m = /Requests\/sec:\s+([\d.]+)/.exec(text);
  if (!out.success || !m) throw new Error(`wrk failed: ${text}${new TextDecoder().decode(out.stderr)}`);
  if (/Non-2xx or 3xx responses/.test(text)) throw new Error(`wrk saw errors: ${text}`);
  return Number(m[1]);
}

async function pushBlob(host: string, repo: string, bytes: Uint8Array): Promise<string> {
  const digest = digestOf(bytes);
  const r = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  await r.body?.cancel();
  const loc = r.headers.get("location")!;
  const url = new URL(loc, `http://${host}`);
  url.searchParams.set("digest", digest);
  const put = await fetch(url, {
    method: "PUT",
    body: bytes as Uint8Array<ArrayBuffer>,
    headers: { "Content-Type": "application/octet-stream" },
  });
  await put.body?.cancel();
  if (put.status !== 201) throw new Error(`blob push to ${host} failed: ${put.status}`);
  return digest;
}

function row(name: string, ctr: number, peer: number, unit: string, goal: number) {
  const ratio = ctr / peer;
  const f = (v: number) => `${v.toFixed(0)} ${unit}`;
  console.log(
    `${name.padEnd(22)} ctr ${f(ctr).padEnd(14)} distribution ${f(peer).padEnd(14)} ×${
      ratio.toFixed(2)
    } (goal ×${goal}) ${ratio >= goal ? "ok" : "BELOW GOAL"}`,
  );
  record({
    figure: `registry: ${name}`,
    unit,
    ctr,
    peer,
    peerName: "distribution",
    goal: { ratio: goal },
    better: "higher",
  });
}

if (import.meta.main) {
  const layout = await buildLayout();
  const mb = layout.bytes / 1e6;
  console.log(
    `image: ${mb.toFixed(0)} MB in 5 layers; ${RUNS} runs each (medians); wrk ${DURATION} s, 16 connections`,
  );
  const starters: Record<string, () => Promise<Registry>> = {
    ctr: startCtr,
    distribution: async () => {
      const peer = await startDistribution();
      return { ...peer, pid: Number((await Deno.readTextFile(`${peer.dir}/reg/pid`)).trim()) };
    },
  };
  const push: Record<string, number[]> = { ctr: [], distribution: [] };
  const pushCpu: Record<string, number[]> = { ctr: [], distribution: [] };
  const pullCpu: Record<string, number[]> = { ctr: [], distribution: [] };
  const pull: Record<string, number[]> = { ctr: [], distribution: [] };
  const manifestRps: Record<string, number[]> = { ctr: [], distribution: [] };
  const blobRps: Record<string, number[]> = { ctr: [], distribution: [] };
  // Dirty pages of one step must not slow the next: flush them before every timed step.
  const sync = () => new Deno.Command("sync").output();
  for (let i = 0; i < RUNS; i++) {
    // Alternate who goes first, so neither always meets a warmer or busier machine.
    for (const name of i % 2 ? ["ctr", "distribution"] : ["distribution", "ctr"]) {
      const reg = await starters[name]();
      try {
        const ref = `docker://${reg.host}/bench/app:1`;
        await sync();
        let cpu = await cpuSeconds(reg.pid);
        push[name].push(
          await timed(() => skopeo(["copy", "--dest-tls-verify=false", `oci:${layout.dir}:1`, ref])),
        );
        pushCpu[name].push(await cpuSeconds(reg.pid) - cpu);
        const out = await Deno.makeTempDir({ prefix: "ctr-bench-pull-" });
        await sync();
        cpu = await cpuSeconds(reg.pid);
        pull[name].push(await timed(() => skopeo(["copy", "--src-tls-verify=false", ref, `oci:${out}/l:1`])));
        pullCpu[name].push(await cpuSeconds(reg.pid) - cpu);
        await Deno.remove(out, { recursive: true });
        const blob = new Uint8Array(1 << 20);
        for (let p = 0; p < blob.length; p += 65536) crypto.getRandomValues(blob.subarray(p, p + 65536));
        const digest = await pushBlob(reg.host, "bench/app", blob);
        manifestRps[name].push(
          await wrk(`http://${reg.host}/v2/bench/app/manifests/1`, { Accept: MediaType.OCI_MANIFEST }),
        );
        blobRps[name].push(await wrk(`http://${reg.host}/v2/bench/app/blobs/${digest}`));
      } finally {
        await reg.stop();
      }
    }
  }
  const mbps = (ms: number) => mb / (ms / 1000);
  console.log("");
  row("skopeo push", mbps(median(push.ctr)), mbps(median(push.distribution)), "MB/s", 1.0);
  row("skopeo pull", mbps(median(pull.ctr)), mbps(median(pull.distribution)), "MB/s", 1.0);
  row("wrk manifest GET", median(manifestRps.ctr), median(manifestRps.distribution), "req/s", 3);
  row("wrk 1 MiB blob GET", median(blobRps.ctr), median(blobRps.distribution), "req/s", 3);
  console.log(
    `server CPU per push: ctr ${median(pushCpu.ctr).toFixed(2)} s, distribution ${
      median(pushCpu.distribution).toFixed(2)
    } s; per pull: ctr ${median(pullCpu.ctr).toFixed(2)} s, distribution ${
      median(pullCpu.distribution).toFixed(2)
    } s`,
  );
  const raw = (xs: number[]) => xs.map((x) => mbps(x).toFixed(0)).join(", ");
  console.log(
    `\nraw MB/s: push ctr ${raw(push.ctr)} / distribution ${raw(push.distribution)}; pull ctr ${
      raw(pull.ctr)
    } / distribution ${raw(pull.distribution)}`,
  );
  const r = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(", ");
  console.log(
    `raw req/s: manifest ctr ${r(manifestRps.ctr)} / distribution ${
      r(manifestRps.distribution)
    }; 1 MiB blob ctr ${r(blobRps.ctr)} / distribution ${r(blobRps.distribution)}`,
  );
}
