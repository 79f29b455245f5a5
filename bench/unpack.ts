/**
 * Benchmark: unpacking the Debian image, ctr vs `umoci unpack`, side by side.
 *
 * The image is built once by umoci itself from the Debian fixture tarball
 * (`umoci init` + `umoci new` + `umoci raw add-layer`, cached in
 * `bench/results/unpack-cache/`), so both tools unpack the very same gzip layer blob. ctr
 * gets the layout through `ctr load` without unpacking; then each run, alternating:
 *
 * - umoci: `umoci unpack --image LAYOUT:deb BUNDLE` (a new process);
 * - ctr: a new process that opens the state root and unpacks the image into its snapshot
 *   (`SnapshotStore.prepare`, as `ctr run`/`load`/`pull` do), after the snapshot was removed.
 *
 * Both wall times include process start-up; the outputs are deleted and `sync`ed outside the
 * timing. Runs on the disk, then again on a tmpfs (which takes the disk — and other
 * processes' writeback — out of the comparison). Prints medians and the ratio (goal: ctr ≤
 * 1.0× umoci's time).
 *
 *     deno run -A --unstable-worker-options bench/unpack.ts [--runs N]
 *
 * @module
 */
import { ImageStore } from "../image/image_store.ts";
import { SnapshotStore } from "../image/snapshots.ts";
import { loadArchive } from "../image/archive_load.ts";
import { fixture } from "../tests/helpers.ts";
import { record } from "./report.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = `${REPO}/bench/results/unpack-cache`;
const runsArg = Deno.args.indexOf("--runs");
const RUNS = runsArg !== -1 ? Number(Deno.args[runsArg + 1]) : 5;

async function run(cmd: string, args: string[], options: { quiet?: boolean } = {}): Promise<number> {
  const t = performance.now();
  const out = await new Deno.Command(cmd, { args, stdout: options.quiet ? "null" : "piped", stderr: "piped" })
    .output();
  const ms = performance.now() - t;
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return ms;
}

async function sh(script: string): Promise<void> {
  await run("bash", ["-ec", script], { quiet: true });
}

/** The OCI layout umoci made from the Debian fixture (built once). */
async function layout(): Promise<string> {
  const dir = `${CACHE}/layout`;
  try {
    await Deno.stat(`${dir}/index.json`);
    return dir;
  } catch { /* build it */ }
  const tarball = await fixture("debian");
  await Deno.mkdir(CACHE, { recursive: true });
  console.log(`building an OCI layout of ${tarball} with umoci into ${dir} …`);
  await sh(
    `rm -rf ${dir} ${dir}.tmp && umoci init --layout ${dir}.tmp && umoci new --image ${dir}.tmp:deb && ` +
      `zcat ${tarball} > ${CACHE}/debian.tar && umoci raw add-layer --image ${dir}.tmp:deb ${CACHE}/debian.tar && ` +
      `rm ${CACHE}/debian.tar && mv ${dir}.tmp ${dir}`,
  );
  return dir;
}

/** Child mode: unpack image `name` of state root `root`, then exit. */
async function child(root: string, name: string): Promise<void> {
  const images = ImageStore.open(root);
  await SnapshotStore.open(root, images).prepare(await images.load(name));
  images.close();
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (import.meta.main) {
  if (Deno.args[0] === "--child") {
    await child(Deno.args[1], Deno.args[2]);
    Deno.exit(0);
  }
  const dir = await layout();
  const work = await Deno.makeTempDir({ prefix: "ctr-bench-unpack-" });
  const deno = Deno.execPath();
  const self = new URL(import.meta.url).pathname;
  const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  let mounted = false;
  try {
    // Two places: the real disk, and a tmpfs that takes disk contention out of the picture.
    await Deno.mkdir(`${work}/tmpfs`);
    const tmpfs = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=2g", "tmpfs", `${work}/tmpfs`],
    })
      .output();
    mounted = tmpfs.success;
    const places: [string, string][] = [["disk", `${work}/disk`]];
    if (mounted) places.push(["tmpfs", `${work}/tmpfs`]);
    let first = true;
    for (const [place, base] of places) {
      await Deno.mkdir(base, { recursive: true });
      const root = `${base}/ctr`;
      // Give ctr the same layout, without unpacking it.
      const tar = new Deno.Command("tar", { args: ["-C", dir, "-cf", "-", "."], stdout: "piped" }).spawn();
      const images = ImageStore.open(root);
      const snapshots = SnapshotStore.open(root, images);
      const [loaded] = await loadArchive(root, images, snapshots, tar.stdout, { unpack: false });
      await tar.status;
      images.tag("bench/debian:umoci", loaded.digest);
      if (first) {
        const layer = (await images.load("bench/debian:umoci")).manifest.layers[0];
        console.log(
          `image: Debian 12 minbase, 1 layer of ${
            (layer.size / 1e6).toFixed(1)
          } MB gzip (written by umoci); ` +
            `${RUNS} runs each, medians; process start-up included`,
        );
        first = false;
      }
      const ctrTimes: number[] = [], umociTimes: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const order = i % 2 === 0 ? ["ctr", "umoci"] : ["umoci", "ctr"];
        for (const who of order) {
          if (who === "ctr") {
            await snapshots.prune(new Set());
            await sh("sync");
            ctrTimes.push(
              await run(deno, [
                "run",
                "-A",
                "--unstable-worker-options",
                "--quiet",
                self,
                "--child",
                root,
                "bench/debian:umoci",
              ]),
            );
          } else {
            await sh(`rm -rf ${base}/bundle && sync`);
            umociTimes.push(
              await run("umoci", ["unpack", "--image", `${dir}:deb`, `${base}/bundle`], { quiet: true }),
            );
          }
        }
      }
      images.close();
      await sh(`rm -rf ${base}/bundle ${root}`);
      const c = median(ctrTimes), u = median(umociTimes);
      console.log(`  ${place} runs ctr:   ${ctrTimes.map(fmt).join(" ")}`);
      console.log(`  ${place} runs umoci: ${umociTimes.map(fmt).join(" ")}`);
      console.log(
        `unpack debian (${place.padEnd(5)})  ctr ${fmt(c).padEnd(9)} umoci ${
          fmt(u).padEnd(9)
        } ctr/umoci time ×${(c / u).toFixed(2)}  (goal ≤ 1.00: ${c <= u ? "met" : "NOT met"})`,
      );
      record({
        figure: `unpack Debian layer (${place})`,
        unit: "s",
        ctr: c / 1000,
        peer: u / 1000,
        peerName: "umoci unpack",
        goal: { ratio: 1 },
        better: "lower",
        note: `median of ${RUNS}`,
      });
    }
  } finally {
    if (mounted) await new Deno.Command("umount", { args: [`${work}/tmpfs`] }).output();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}
