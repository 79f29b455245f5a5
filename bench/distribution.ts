/**
 * Benchmark: ctr's registry client against skopeo, side by side, on the same image served by
 * the same docker-registry on loopback.
 *
 * - cold pull: `ctr pull` into an empty root vs `skopeo copy docker://… oci:DIR` (bytes of
 *   the image / wall time, process start-up included);
 * - incremental pull: the image again with one small layer changed, the rest already local;
 * - push: `ctr push` vs `skopeo copy oci:DIR docker://…`, each into a fresh registry so
 *   that nothing can be skipped or mounted.
 *
 * The image: 5 layers of random files (~400 MB as gzip), generated once into
 * `bench/results/distribution-cache/` (override size with `BENCH_LAYER_MB`).
 *
 *     deno run -A bench/distribution.ts [--runs N]
 *
 * @module
 */
import { createGzip } from "node:zlib";
import { Readable } from "node:stream";
import { digestOf, Hasher } from "../image/digest.ts";
import { MediaType } from "../image/oci.ts";
import { makeTar } from "../tests/image_builder.ts";
import { skopeo, startDistribution } from "../tests/peers/distribution.ts";
import { ImageStore } from "../image/image_store.ts";
import { distributionSchema } from "../image/distribution/origins.ts";
import { pullImage } from "../image/distribution/pull.ts";
import { type Goal, record } from "./report.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = `${REPO}/bench/results/distribution-cache`;
const LAYER_MB = Number(Deno.env.get("BENCH_LAYER_MB") ?? 80);
const runsArg = Deno.args.indexOf("--runs");
const RUNS = runsArg !== -1 ? Number(Deno.args[runsArg + 1]) : 3;

interface LayoutBlob {
  digest: string;
  size: number;
  mediaType: string;
}

/** Gzip of a tar of random files, written to the layout; returns its descriptor and diff id. */
async function randomLayer(
  dir: string,
  mb: number,
  seed: string,
): Promise<{ blob: LayoutBlob; diffId: string }> {
  const tmp = `${dir}/tmp-${seed}`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  const tarHash = new Hasher();
  const gzHash = new Hasher();
  const gz = createGzip({ level: 1 });
  const done = (async () => {
    for await (const chunk of gz as AsyncIterable<Uint8Array>) {
      gzHash.update(chunk);
      let o = 0;
      while (o < chunk.length) o += await file.write(chunk.subarray(o));
    }
  })();
  const fileMb = 8;
  const parts: Uint8Array[] = [];
  for (let i = 0; i < Math.ceil(mb / fileMb); i++) {
    const data = new Uint8Array(fileMb << 20);
    for (let o = 0; o < data.length; o += 65536) crypto.getRandomValues(data.subarray(o, o + 65536));
    parts.push(data);
  }
  const files: Record<string, Uint8Array> = { [`${seed}/`]: new Uint8Array(0) };
  parts.forEach((p, i) => files[`${seed}/f${i}`] = p);
  const tar = makeTar(files);
  tarHash.update(tar);
  await new Promise<void>((resolve, reject) => {
    Readable.from([tar]).pipe(gz).on("error", reject);
    gz.on("end", resolve);
  });
  await done;
  file.close();
  const digest = gzHash.digest();
  await Deno.rename(tmp, `${dir}/blobs/sha256/${digest.slice(7)}`);
  return {
    blob: { digest, size: gzHash.size, mediaType: MediaType.OCI_LAYER_GZIP },
    diffId: tarHash.digest(),
  };
}

async function writeBlob(dir: string, bytes: Uint8Array, mediaType: string): Promise<LayoutBlob> {
  const digest = digestOf(bytes);
  await Deno.writeFile(`${dir}/blobs/sha256/${digest.slice(7)}`, bytes);
  return { digest, size: bytes.length, mediaType };
}

/** An OCI layout with tags `1` (5 big layers) and `2` (the same with the last layer small and changed). */
async function buildLayout(): Promise<{ dir: string; bytes: number; manifests: Record<string, string> }> {
  const dir = `${CACHE}/layout-${LAYER_MB}`;
  try {
    const meta = JSON.parse(await Deno.readTextFile(`${dir}/bench.json`));
    return { dir, ...meta };
  } catch { /* build it */ }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  console.log(`generating 5 layers of ${LAYER_MB} MB of random files into ${dir} …`);
  const layers = [];
  for (let i = 0; i < 5; i++) layers.push(await randomLayer(dir, LAYER_MB, `layer${i}`));
  const small = async (v: string) => {
    const tar = makeTar({ "etc/": "", "etc/version": `${v}\n` });
    const { gzipSync } = await import("node:zlib");
    const gz = new Uint8Array(gzipSync(tar, { level: 1 }));
    return { blob: await writeBlob(dir, gz, MediaType.OCI_LAYER_GZIP), diffId: digestOf(tar) };
  };
  const manifests: Record<string, string> = {};
  const index = { schemaVersion: 2, manifests: [] as unknown[] };
  let bytes = 0;
  for (const tag of ["1", "2"]) {
    const ls = [...layers, await small(tag)];
    const config = await writeBlob(
      dir,
      new TextEncoder().encode(JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: { Cmd: ["/bin/sh"] },
        rootfs: { type: "layers", diff_ids: ls.map((l) => l.diffId) },
      })),
      MediaType.OCI_CONFIG,
    );
    const manifest = await writeBlob(
      dir,
      new TextEncoder().encode(JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OCI_MANIFEST,
        config,
        layers: ls.map((l) => l.blob),
      })),
      MediaType.OCI_MANIFEST,
    );
    manifests[tag] = manifest.digest;
    if (tag === "1") bytes = ls.reduce((n, l) => n + l.blob.size, 0) + config.size + manifest.size;
    index.manifests.push({ ...manifest, annotations: { "org.opencontainers.image.ref.name": tag } });
  }
  await Deno.writeTextFile(`${dir}/index.json`, JSON.stringify(index));
  await Deno.writeTextFile(`${dir}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await Deno.writeTextFile(`${dir}/bench.json`, JSON.stringify({ bytes, manifests }));
  return { dir, bytes, manifests };
}

async function sh(cmd: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", env }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** Wall time and CPU time (user + system, of the process and its children) of a command. */
async function measured(cmd: string, args: string[], env: Record<string, string> = {}) {
  const file = await Deno.makeTempFile();
  try {
    const t = performance.now();
    await sh("/usr/bin/time", ["-f", "%U %S", "-o", file, cmd, ...args], env);
    const wall = performance.now() - t;
    const [user, sys] = (await Deno.readTextFile(file)).trim().split("\n").pop()!.split(" ").map(Number);
    return { wall, cpu: (user + sys) * 1000 };
  } finally {
    await Deno.remove(file);
  }
}

/** Wall-time samples and CPU-time samples of one side. */
class Samples {
  wall: number[] = [];
  cpu: number[] = [];
  add(m: { wall: number; cpu: number }) {
    this.wall.push(m.wall);
    this.cpu.push(m.cpu);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ctrBin = `${REPO}/ctr`;

async function tmp(prefix: string): Promise<string> {
  return await Deno.makeTempDir({ prefix: `ctr-bench-${prefix}-` });
}

function cpuRow(name: string, ctr: Samples, peer: Samples) {
  const c = median(ctr.cpu), p = median(peer.cpu);
  console.log(
    `${name.padEnd(20)} ctr ${`${c.toFixed(0)} ms CPU`.padEnd(22)} skopeo ${
      `${p.toFixed(0)} ms CPU`.padEnd(22)
    } ctr CPU ×${(c / p).toFixed(2)}`,
  );
}

function row(name: string, ctrMs: number, peerMs: number, bytes?: number, goal?: Goal) {
  const fmt = (ms: number) =>
    bytes
      ? `${(ms / 1000).toFixed(2)} s (${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s)`
      : `${ms.toFixed(0)} ms`;
  const ratio = peerMs / ctrMs;
  console.log(
    `${name.padEnd(20)} ctr ${fmt(ctrMs).padEnd(22)} skopeo ${fmt(peerMs).padEnd(22)} ctr speed ×${
      ratio.toFixed(2)
    }`,
  );
  const mbps = (ms: number) => bytes! / 1e6 / (ms / 1000);
  record({
    figure: `client: ${name.trim() === "fetch only" ? "pull without unpacking" : name.trim()}`,
    unit: bytes ? "MB/s" : "ms",
    ctr: bytes ? mbps(ctrMs) : ctrMs,
    peer: bytes ? mbps(peerMs) : peerMs,
    peerName: "skopeo copy",
    goal,
    better: bytes ? "higher" : "lower",
  });
}

if (import.meta.main) {
  const layout = await buildLayout();
  console.log(`image: ${(layout.bytes / 1e6).toFixed(0)} MB in 6 blobs + config; ${RUNS} runs each, medians`);
  const reg = await startDistribution();
  const env = { DOCKER_CONFIG: `${CACHE}/docker-config` };
  try {
    for (const tag of ["1", "2"]) {
      await skopeo([
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        `oci:${layout.dir}:${tag}`,
        `docker://${reg.host}/bench/app:${tag}`,
      ]);
    }
    const name = (tag: string) => `${reg.host}/bench/app:${tag}`;

    // cold pull (the CLI: fetch, verify, store and unpack), and the same without unpacking
    // (in-process pullImage: what skopeo's copy into a layout does)
    const ctrCold = new Samples(), skCold = new Samples(), ctrFetch: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const root = await tmp("root");
      ctrCold.add(await measured(ctrBin, ["--root", root, "pull", "-q", name("1")], env));
      await Deno.remove(root, { recursive: true });
      const root2 = await tmp("root");
      const store = ImageStore.open(root2, [distributionSchema]);
      ctrFetch.push(await timed(() => pullImage(store, name("1"))));
      store.close();
      await Deno.remove(root2, { recursive: true });
      const dir = await tmp("oci");
      skCold.add(
        await measured("skopeo", [
          "copy",
          "--src-tls-verify=false",
          `docker://${name("1")}`,
          `oci:${dir}/l:1`,
        ]),
      );
      await Deno.remove(dir, { recursive: true });
    }

    // incremental pull: v1 local, pull v2 (one small layer changed)
    const ctrInc = new Samples(), skInc = new Samples();
    for (let i = 0; i < RUNS; i++) {
      const root = await tmp("root");
      await sh(ctrBin, ["--root", root, "pull", "-q", name("1")], env);
      ctrInc.add(await measured(ctrBin, ["--root", root, "pull", "-q", name("2")], env));
      await Deno.remove(root, { recursive: true });
      const dir = await tmp("oci");
      await skopeo(["copy", "--src-tls-verify=false", `docker://${name("1")}`, `oci:${dir}/l:1`]);
      skInc.add(
        await measured("skopeo", [
          "copy",
          "--src-tls-verify=false",
          `docker://${name("2")}`,
          `oci:${dir}/l:2`,
        ]),
      );
      await Deno.remove(dir, { recursive: true });
    }

    // push into fresh registries
    const ctrPush = new Samples(), skPush = new Samples();
    const src = await tmp("src");
    await sh(ctrBin, ["--root", src, "pull", "-q", name("1")], env);
    for (let i = 0; i < RUNS; i++) {
      const r1 = await startDistribution();
      try {
        await sh(ctrBin, ["--root", src, "tag", name("1"), `${r1.host}/bench/app:1`], env);
        ctrPush.add(await measured(ctrBin, ["--root", src, "push", "-q", `${r1.host}/bench/app:1`], env));
      } finally {
        await r1.stop();
      }
      const r2 = await startDistribution();

      try {
        skPush.add(
          await measured("skopeo", [
            "copy",
            "--dest-tls-verify=false",
            `oci:${layout.dir}:1`,
            `docker://${r2.host}/bench/app:1`,
          ]),
        );
      } finally {
        await r2.stop();
      }
    }
    await Deno.remove(src, { recursive: true });

    console.log("");
    row("cold pull", median(ctrCold.wall), median(skCold.wall), layout.bytes, { ratio: 1.5 });
    row("  fetch only", median(ctrFetch), median(skCold.wall), layout.bytes);
    row("incremental pull", median(ctrInc.wall), median(skInc.wall), undefined, { value: 100 });
    row("push", median(ctrPush.wall), median(skPush.wall), layout.bytes, { ratio: 1.2 });
    console.log("");
    cpuRow("cold pull", ctrCold, skCold);
    cpuRow("incremental pull", ctrInc, skInc);
    cpuRow("push", ctrPush, skPush);
    console.log(
      `load average at the end: ${
        (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ")
      }`,
    );
    console.log("");
    console.log("goals: cold pull ×≥1.5 (incl. unpacking), incremental ≤ 100 ms, push ×≥1.2");
    console.log(
      "(fetch only: ctr's pull without unpacking, in-process — skopeo's copy does not unpack either)",
    );
    console.log(
      `raw wall ms: ctr cold ${ctrCold.wall.map(Math.round)}, ctr fetch ${
        ctrFetch.map(Math.round)
      }, skopeo cold ${skCold.wall.map(Math.round)}, ctr inc ${ctrInc.wall.map(Math.round)}, skopeo inc ${
        skInc.wall.map(Math.round)
      }, ctr push ${ctrPush.wall.map(Math.round)}, skopeo push ${skPush.wall.map(Math.round)}`,
    );
  } finally {
    await reg.stop();
  }
}
