/**
 * Benchmark: starting a container, ctr vs crun, runc and Docker, side by side, in one run —
 * and the memory ctr's supervision costs per running container.
 *
 * 1. Start-up, end to end as a user sees it (process start to exit, wall time):
 *    - ctr:    `./ctr --root R run --rm --network none busybox /bin/true` (the launcher, the
 *              CLI, the supervisor and a warm init; the supervisor is started before timing);
 *              like the peers: a network namespace with only `lo` (runc's default spec,
 *              Docker's `--network none`). Also measured: ctr on its default bridge network;
 *    - crun:   `crun run --bundle B ID` on an OCI bundle of the same busybox rootfs;
 *    - runc:   `runc run --bundle B ID` on the same bundle;
 *    - docker: `docker run --rm --network none bb /bin/true` against an isolated dockerd
 *              (`tests/peers/dockerd.sh`) with the same rootfs imported as `bb`.
 *    Runs alternate between the tools; medians and ratios (ctr ÷ peer) are printed.
 *    Goal: ctr median ≤ 100 ms.
 * 2. exec into a running busybox `sleep` container, end to end: `ctr exec C /bin/true` (the
 *    supervisor's warm exec helper) vs `runc exec` on the same bundle and `docker exec`.
 * 3. Supervision memory: 100 `sleep` containers run at once; the Private_Clean +
 *    Private_Dirty of every supervision process (monitor, supervisor, warm inits — from
 *    /proc/PID/smaps_rollup) summed and divided by 100. Goal: ≤ 3 MB per container. For
 *    comparison, Docker's per-container shims are measured the same way on 10 containers.
 *
 *     deno run -A --unstable-worker-options bench/runtime.ts [--runs N] [--no-docker]
 *
 * @module
 */
import { fixture } from "../tests/helpers.ts";
import { importFixtureImage } from "../tests/fixture_image.ts";
import { teardownRoot } from "../runtime/teardown.ts";
import { request } from "../runtime/client.ts";
import { record } from "./report.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const argv = Deno.args;
const RUNS = argv.includes("--runs") ? Number(argv[argv.indexOf("--runs") + 1]) : 20;
const WITH_DOCKER = !argv.includes("--no-docker");
const decoder = new TextDecoder();

async function timed(cmd: string, args: string[], env?: Record<string, string>): Promise<number> {
  const t = performance.now();
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const ms = performance.now() - t;
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${decoder.decode(out.stderr)}`);
  }
  return ms;
}

async function sh(script: string, env?: Record<string, string>): Promise<string> {
  const out = await new Deno.Command("bash", { args: ["-ec", script], env, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`${script}: ${decoder.decode(out.stderr)}`);
  return decoder.decode(out.stdout);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function privateKb(pid: number): number {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
    let kb = 0;
    for (const m of text.matchAll(/^Private_(?:Clean|Dirty):\s+(\d+) kB/gm)) kb += Number(m[1]);
    return kb;
  } catch {
    return 0;
  }
}

async function inBatches<T>(items: T[], width: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: width }, async () => {
    for (let x = queue.shift(); x !== undefined; x = queue.shift()) await fn(x);
  }));
}

/** An OCI bundle of the busybox fixture for crun and runc (`runc spec`, command /bin/true). */
async function bundle(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/rootfs`, { recursive: true });
  await sh(`tar -xf ${await fixture("busybox")} -C ${dir}/rootfs && cd ${dir} && runc spec`);
  const spec = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  spec.process.terminal = false;
  spec.process.args = ["/bin/true"];
  spec.root.readonly = false;
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(spec, null, 2));
}

const work = await Deno.makeTempDir({ prefix: "ctr-bench-runtime-" });
const root = `${work}/root`;
const ctrCmd = `${REPO}/ctr`;
const results: Record<string, number[]> = { ctr: [], "ctr-bridge": [], crun: [], runc: [], docker: [] };
let dockerEnv: Record<string, string> | undefined;
let crunArgs = ["run", "--bundle", `${work}/bundle`];
let crunCmd = "crun";
try {
  await Deno.mkdir(root);
  await importFixtureImage(root, "busybox");
  await bundle(`${work}/bundle`);
  // Warm-up: the supervisor (and its warm init) come up; the image's snapshot is unpacked.
  await timed(ctrCmd, ["--root", root, "run", "--rm", "busybox", "/bin/true"]);
  await timed(ctrCmd, ["--root", root, "run", "--rm", "busybox", "/bin/true"]);
  try {
    await timed("crun", [...crunArgs, `warm-${Deno.pid}`]);
  } catch (e) {
    // crun 1.8 refuses a hybrid layout whose cgroup2 mount holds a controller (this host's
    // holds hugetlb). It runs in a mount namespace of its own where /sys/fs/cgroup/unified
    // is unmounted, entered with nsenter (a small C program: ~1 ms more per run).
    console.log(`crun refuses this host (${(e as Error).message.split("\n")[0].slice(-70)});`);
    console.log("  running it in a mount namespace without /sys/fs/cgroup/unified (via nsenter)");
    await Deno.writeTextFile(`${work}/mntns`, "");
    await sh(
      `unshare --mount=${work}/mntns --propagation private true && nsenter --mount=${work}/mntns umount /sys/fs/cgroup/unified`,
    );
    crunCmd = "nsenter";
    crunArgs = [`--mount=${work}/mntns`, "crun", ...crunArgs];
    await timed(crunCmd, [...crunArgs, `warm-${Deno.pid}`]);
  }
  await timed("runc", ["run", "--bundle", `${work}/bundle`, `warm-${Deno.pid}`]);
  if (WITH_DOCKER) {
    const exported = await sh(`bash ${REPO}/tests/peers/dockerd.sh start ${work}/docker`);
    const host = /DOCKER_HOST=(\S+)/.exec(exported)![1];
    dockerEnv = { DOCKER_HOST: host };
    await sh(`docker import ${await fixture("busybox")} bb:latest >/dev/null`, dockerEnv);
    await timed("docker", ["run", "--rm", "--network", "none", "bb", "/bin/true"], dockerEnv);
  }

  const tools: [string, () => Promise<number>][] = [
    [
      "ctr",
      () => timed(ctrCmd, ["--root", root, "run", "--rm", "--network", "none", "busybox", "/bin/true"]),
    ],
    ["ctr-bridge", () => timed(ctrCmd, ["--root", root, "run", "--rm", "busybox", "/bin/true"])],
    ["crun", () => timed(crunCmd, [...crunArgs, `b${crypto.randomUUID().slice(0, 8)}`])],
    [
      "runc",
      () => timed("runc", ["run", "--bundle", `${work}/bundle`, `b${crypto.randomUUID().slice(0, 8)}`]),
    ],
  ];
  if (dockerEnv) {
    tools.push([
      "docker",
      () => timed("docker", ["run", "--rm", "--network", "none", "bb", "/bin/true"], dockerEnv),
    ]);
  }
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 ? [...tools].reverse() : tools;
    for (const [name, fn] of order) results[name].push(await fn());
  }

  console.log(
    `\nrun --rm busybox /bin/true, no network — median of ${RUNS} runs (wall time, process start to exit)`,
  );
  const ctrMs = median(results.ctr);
  console.log(
    `  ${"ctr".padEnd(8)} ${ctrMs.toFixed(1).padStart(7)} ms   (goal ≤ 100 ms: ${
      ctrMs <= 100 ? "met" : "NOT met"
    })`,
  );
  for (const name of ["crun", "runc", "docker"]) {
    if (!results[name].length) continue;
    const m = median(results[name]);
    console.log(
      `  ${name.padEnd(8)} ${m.toFixed(1).padStart(7)} ms   ctr/${name} = ${(ctrMs / m).toFixed(2)}×`,
    );
  }
  console.log(`  (ctr on its default bridge network: ${median(results["ctr-bridge"]).toFixed(1)} ms)`);
  // One row per peer; the goal (≤ 100 ms) is on ctr's own time, stated once.
  const peers = ["docker", "crun", "runc"].filter((n) => results[n].length);
  for (const [i, name] of peers.entries()) {
    record({
      figure: "run --rm busybox true (no network)",
      unit: "ms",
      ctr: ctrMs,
      peer: median(results[name]),
      peerName: name === "docker" ? "docker run" : `${name} run`,
      goal: i === 0 ? { value: 100 } : undefined,
      better: "lower",
      note: `median of ${RUNS}`,
    });
  }

  // exec into a running container: ctr (the warm exec helper) vs runc exec and docker exec.
  await timed(ctrCmd, [
    "--root",
    root,
    "run",
    "-d",
    "--network",
    "none",
    "--name",
    "ex",
    "busybox",
    "sleep",
    "600",
  ]);
  const runcId = `ex${crypto.randomUUID().slice(0, 8)}`;
  const spec = JSON.parse(await Deno.readTextFile(`${work}/bundle/config.json`));
  spec.process.args = ["sleep", "600"];
  spec.root.path = `${work}/bundle/rootfs`;
  await Deno.mkdir(`${work}/bundle-sleep`);
  await Deno.writeTextFile(`${work}/bundle-sleep/config.json`, JSON.stringify(spec));
  await new Deno.Command("runc", {
    args: ["run", "-d", "--bundle", `${work}/bundle-sleep`, runcId],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  let dockerExecId = "";
  const execTools: [string, () => Promise<number>][] = [
    ["ctr", () => timed(ctrCmd, ["--root", root, "exec", "ex", "/bin/true"])],
    ["runc", () => timed("runc", ["exec", runcId, "/bin/true"])],
  ];
  if (dockerEnv) {
    dockerExecId = (await sh(`docker run -d --network none bb sleep 600`, dockerEnv)).trim();
    execTools.push(["docker", () => timed("docker", ["exec", dockerExecId, "/bin/true"], dockerEnv)]);
  }
  const execResults: Record<string, number[]> = { ctr: [], runc: [], docker: [] };
  for (const [, fn] of execTools) await fn(); // warm-up (ctr: the first exec makes the warm helper)
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 ? [...execTools].reverse() : execTools;
    for (const [name, fn] of order) execResults[name].push(await fn());
  }
  await new Deno.Command("runc", { args: ["delete", "-f", runcId], stderr: "null" }).output();
  if (dockerExecId) await sh(`docker rm -f ${dockerExecId} >/dev/null`, dockerEnv);
  await timed(ctrCmd, ["--root", root, "rm", "-f", "ex"]);
  const execMs = median(execResults.ctr);
  console.log(`\nexec CONTAINER /bin/true — median of ${RUNS} runs (wall time)`);
  console.log(`  ${"ctr".padEnd(8)} ${execMs.toFixed(1).padStart(7)} ms`);
  for (const name of ["runc", "docker"]) {
    if (!execResults[name].length) continue;
    const m = median(execResults[name]);
    console.log(
      `  ${name.padEnd(8)} ${m.toFixed(1).padStart(7)} ms   ctr/${name} = ${(execMs / m).toFixed(2)}×`,
    );
    record({
      figure: "exec CONTAINER true",
      unit: "ms",
      ctr: execMs,
      peer: m,
      peerName: `${name} exec`,
      better: "lower",
      note: `median of ${RUNS}`,
    });
  }

  // Supervision memory at 100 running containers.
  const names = Array.from({ length: 100 }, (_, i) => `mem${i}`);
  await inBatches(
    names,
    4,
    (n) =>
      timed(ctrCmd, [
        "--root",
        root,
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        n,
        "busybox",
        "sleep",
        "600",
      ]),
  );
  await new Promise((r) => setTimeout(r, 1000));
  const p = await request<{ supervisor: number; monitor: number; warm: number[]; containers: number[] }>(
    root,
    {
      op: "processes",
    },
  );
  const parts: [string, number][] = [
    ["monitor", privateKb(p.monitor)],
    ["supervisor", privateKb(p.supervisor)],
    ...p.warm.map((pid, i): [string, number] => [`warm init ${i + 1}`, privateKb(pid)]),
  ];
  const total = parts.reduce((n, [, kb]) => n + kb, 0);
  console.log(
    `\nsupervision memory with ${p.containers.length} running containers (Private_Clean + Private_Dirty)`,
  );
  for (const [what, kb] of parts) {
    console.log(`  ${what.padEnd(12)} ${(kb / 1024).toFixed(1).padStart(7)} MB`);
  }
  const per = total / 1024 / p.containers.length;
  console.log(
    `  per container ${per.toFixed(2).padStart(6)} MB   (goal ≤ 3 MB: ${per <= 3 ? "met" : "NOT met"})`,
  );
  const containerKb = p.containers.reduce((n, pid) => n + privateKb(pid), 0) / p.containers.length;
  console.log(`  (each container's own process, sleep: ${containerKb.toFixed(0)} kB — not supervision)`);
  const memory = {
    figure: `supervision memory per container (${p.containers.length} running)`,
    unit: "MB",
    ctr: per,
    goal: { value: 3 },
    better: "lower" as const,
  };
  if (!dockerEnv) record(memory);

  if (dockerEnv) {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push((await sh(`docker run -d --network none bb sleep 600`, dockerEnv)).trim());
    }
    const shims = (await sh(`pgrep -f 'containerd-shim.*-namespace moby' || true`)).trim().split("\n").filter(
      (x) => x,
    )
      .map(Number);
    const shimKb = shims.reduce((n, pid) => n + privateKb(pid), 0);
    if (shims.length) {
      console.log(
        `  docker: ${shims.length} containerd-shim processes for 10 containers, ${
          (shimKb / 1024 / 10).toFixed(1)
        } MB per container (ctr/docker = ${(per / (shimKb / 1024 / 10)).toFixed(2)}×)`,
      );
    }
    record({
      ...memory,
      peer: shims.length ? shimKb / 1024 / 10 : null,
      peerName: "containerd-shim (docker)",
    });
    await sh(`docker rm -f ${ids.join(" ")} >/dev/null`, dockerEnv);
  }
} finally {
  await teardownRoot(root).catch(() => {});
  if (dockerEnv) await sh(`bash ${REPO}/tests/peers/dockerd.sh stop ${work}/docker`).catch(() => {});
  await new Deno.Command("umount", { args: [`${work}/mntns`], stderr: "null" }).output();
  await new Deno.Command("umount", { args: ["-R", "-l", work], stderr: "null" }).output();
  await Deno.remove(work, { recursive: true }).catch(() => {});
}
