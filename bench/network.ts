/**
 * Benchmark: ctr's container networking, side by side with `podman run` (netavark).
 *
 * - throughput: one large HTTP download from busybox `httpd` in a container, through a
 *   published port on 127.0.0.1 vs directly to the container's address (goal: published ≥
 *   0.8 × direct), measured with curl;
 * - start time: `run --rm IMAGE true` on the default bridge minus the same with
 *   `--network none` (goal: ≤ 30 ms added).
 *
 * Podman runs inside a network namespace made for the benchmark (held by `unshare -n sleep`,
 * entered with `nsenter --net`), with its own storage under a temporary directory, so neither its rules nor its bridge touch the
 * host; ctr runs in a temporary state root with its own bridge and subnet. All traffic stays
 * on loopback and inside those namespaces.
 *
 *     deno run -A bench/network.ts [--runs N] [--mb SIZE]
 *
 * @module
 */
import { fixture } from "../tests/helpers.ts";
import { record } from "./report.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const arg = (name: string, dflt: number) => {
  const i = Deno.args.indexOf(name);
  return i !== -1 ? Number(Deno.args[i + 1]) : dflt;
};
const RUNS = arg("--runs", 5);
const MB = arg("--mb", 512);

const dec = new TextDecoder();

async function sh(cmd: string[], options: { ok?: boolean } = {}): Promise<string> {
  const o = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" }).output();
  if (!o.success && options.ok !== false) {
    throw new Error(`${cmd.join(" ")} failed (${o.code}): ${dec.decode(o.stderr)}`);
  }
  return dec.decode(o.stdout);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/**
 * MB/s of downloads of /big with curl through each URL (run through `prefix`, e.g. nsenter),
 * interleaved run by run so that a change in the machine's load hits both alike; medians.
 */
async function downloads(prefix: string[], urls: string[]): Promise<number[]> {
  const speeds: number[][] = urls.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [k, url] of urls.entries()) {
      const out = await sh([...prefix, "curl", "-s", "-o", "/dev/null", "-w", "%{speed_download}", url]);
      speeds[k].push(Number(out) / 1e6);
    }
  }
  return speeds.map(median);
}

function row(what: string, a: number, b: number | undefined, unit: string, ratioNote = "") {
  const fmt = (x: number) => (unit === "MB/s" ? x.toFixed(0) : x.toFixed(1));
  const peer = b === undefined ? "n/a" : fmt(b);
  const ratio = b === undefined ? "" : `  ratio ${(a / b).toFixed(2)}`;
  console.log(
    `${what.padEnd(44)} ctr ${fmt(a).padStart(8)} ${unit}   podman ${
      peer.padStart(8)
    } ${unit}${ratio}${ratioNote}`,
  );
}

async function makeWww(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const f = await Deno.open(`${dir}/big`, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(1 << 20);
  crypto.getRandomValues(chunk.subarray(0, 65536));
  for (let i = 0; i < MB; i++) await f.write(chunk);
  f.close();
}

// ---------------------------------------------------------------- ctr

async function benchCtr(tmp: string) {
  const root = `${tmp}/ctr-root`;
  const ctr = (args: string[], ok = true) => sh([`${REPO}/ctr`, "--root", root, ...args], { ok });
  await ctr(["import", await fixture("busybox"), "busybox"]);
  const www = `${tmp}/www`;
  await ctr([
    "run",
    "-d",
    "--name",
    "web",
    "-p",
    "127.0.0.1::80",
    "-v",
    `${www}:/www`,
    "busybox",
    "httpd",
    "-f",
    "-p",
    "80",
    "-h",
    "/www",
  ]);
  try {
    const port = (await ctr(["port", "web", "80"])).trim();
    const ip = (await ctr(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"])).trim();
    for (let i = 0; i < 50; i++) {
      if (
        (await sh(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", `http://${port}/big`], {
          ok: false,
        })) === "200"
      ) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const [published, direct] = await downloads([], [`http://${port}/big`, `http://${ip}/big`]);
    // Start time: bridge vs none (the supervisor is warm after the run above).
    const none: number[] = [], bridge: number[] = [];
    for (let i = 0; i < RUNS + 1; i++) {
      const n = await timeIt(() => ctr(["run", "--rm", "--network", "none", "busybox", "true"]));
      const b = await timeIt(() => ctr(["run", "--rm", "busybox", "true"]));
      if (i > 0) none.push(n), bridge.push(b); // the first pair warms caches
    }
    return { published, direct, none: median(none), bridge: median(bridge) };
  } finally {
    await ctr(["rm", "-f", "web"], false);
    const { teardownRoot } = await import("../runtime/teardown.ts");
    await teardownRoot(root);
  }
}

// ---------------------------------------------------------------- podman

async function benchPodman(tmp: string) {
  // A namespace held by a sleeping process; podman runs in it through nsenter, which keeps
  // the host's mount namespace (so cgroups stay visible, unlike `ip netns exec`).
  const holder = new Deno.Command("unshare", {
    args: ["-n", "sleep", "3600"],
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  await new Promise((r) => setTimeout(r, 200));
  const inNs = ["nsenter", `--net=/proc/${holder.pid}/ns/net`, "--"];
  const dir = `${tmp}/podman`;
  const podman = (args: string[], ok = true) =>
    sh([
      ...inNs,
      "podman",
      "--root",
      `${dir}/root`,
      "--runroot",
      `${dir}/run`,
      "--network-config-dir",
      `${dir}/net`,
      ...args,
    ], { ok });
  // crun refuses podman's default rlimits in this VM; runc with explicit limits works.
  const runOpts = ["--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];
  try {
    await sh([...inNs, "ip", "link", "set", "lo", "up"]);
    await podman(["import", await fixture("busybox"), "localhost/bb:latest"]);
    await podman([
      "run",
      "-d",
      ...runOpts,
      "--name",
      "web",
      "-p",
      "127.0.0.1:18080:80",
      "-v",
      `${tmp}/www:/www`,
      "localhost/bb:latest",
      "httpd",
      "-f",
      "-p",
      "80",
      "-h",
      "/www",
    ]);
    const ip = (await podman(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"])).trim();
    for (let i = 0; i < 50; i++) {
      const code = await sh([
        ...inNs,
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "http://127.0.0.1:18080/big",
      ], {
        ok: false,
      });
      if (code === "200") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const [published, direct] = await downloads(inNs, ["http://127.0.0.1:18080/big", `http://${ip}/big`]);
    const none: number[] = [], bridge: number[] = [];
    for (let i = 0; i < RUNS + 1; i++) {
      const n = await timeIt(() =>
        podman(["run", "--rm", ...runOpts, "--network", "none", "localhost/bb:latest", "true"])
      );
      const b = await timeIt(() => podman(["run", "--rm", ...runOpts, "localhost/bb:latest", "true"]));
      if (i > 0) none.push(n), bridge.push(b);
    }
    return { published, direct, none: median(none), bridge: median(bridge) };
  } catch (e) {
    console.log(`podman: not usable here (${(e as Error).message.split("\n")[0]})`);
    return undefined;
  } finally {
    await podman(["rm", "-f", "web"], false);
    holder.kill("SIGKILL");
    await holder.status;
  }
}

const tmp = await Deno.makeTempDir({ prefix: "ctr-bench-net-" });
try {
  await makeWww(`${tmp}/www`);
  console.log(`network: ${MB} MB over HTTP with curl, median of ${RUNS}; start times median of ${RUNS}`);
  const c = await benchCtr(tmp);
  const p = Deno.uid() === 0 ? await benchPodman(tmp) : undefined;
  row("download via published 127.0.0.1 port", c.published, p?.published, "MB/s");
  row("download directly from the container", c.direct, p?.direct, "MB/s");
  console.log(
    `${"published / direct".padEnd(44)} ctr ${
      (c.published / c.direct).toFixed(2).padStart(8)
    }        podman ${p ? (p.published / p.direct).toFixed(2).padStart(8) : "     n/a"}        (goal ≥ 0.80)`,
  );
  row("run --rm true, --network none", c.none, p?.none, "ms");
  row("run --rm true, default bridge", c.bridge, p?.bridge, "ms");
  console.log(
    `${"added by the bridge".padEnd(44)} ctr ${(c.bridge - c.none).toFixed(1).padStart(8)} ms   podman ${
      p ? (p.bridge - p.none).toFixed(1).padStart(8) : "     n/a"
    } ms   (goal ≤ 30 ms)`,
  );
  const peer = { peerName: "podman (netavark)" };
  record({
    figure: "download via published port",
    unit: "MB/s",
    ctr: c.published,
    peer: p?.published,
    ...peer,
    better: "higher",
  });
  record({
    figure: "published port ÷ direct throughput",
    unit: "×",
    ctr: c.published / c.direct,
    peer: p ? p.published / p.direct : null,
    ...peer,
    goal: { value: 0.8 },
    better: "higher",
  });
  record({
    figure: "start time added by the bridge",
    unit: "ms",
    ctr: c.bridge - c.none,
    peer: p ? p.bridge - p.none : null,
    ...peer,
    goal: { value: 30 },
    better: "lower",
  });
} finally {
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
