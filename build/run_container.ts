/**
 * Runs one RUN step in a real container — a one-shot container of the runtime
 * (`runtime/oneshot.ts`) whose root filesystem is an overlay of the stage's snapshots with
 * the step's layer directory as upper dir — and streams its output.
 *
 * What the container gets, as BuildKit gives it:
 * - the step's argv, environment, user (resolved in the image's `/etc/passwd`) and working
 *   directory (created when missing);
 * - a fixed hostname, so `hostname > f` is reproducible;
 * - `/etc/hosts` (localhost and the hostname) and, with a network, the host's
 *   `/etc/resolv.conf`, bound read-only over whatever the image has;
 * - heredoc scripts with a shebang as read-only files under `/dev/pipes/`;
 * - the mounts the caller resolved from `RUN --mount` (see `run_mounts.ts`).
 *
 * Network: `none` is a fresh network namespace with only `lo`; `host` is the host's. The
 * builder maps the Dockerfile's `default` to `host` unless the build says otherwise —
 * BuildKit's standalone default — see `builder.ts`.
 *
 * Nothing outlives the call: the mounts live in the container's mount namespace and vanish
 * with it; the caller removes `scratch`.
 *
 * @module
 */
import { ContainerStartError, type InitProcess } from "../runtime/init_process.ts";
import type { MountSpec } from "../runtime/init_spec.ts";
import { runOneShot } from "../runtime/oneshot.ts";
import type { RunStep } from "./stage_state.ts";

/** Hostname of every RUN container (BuildKit uses a fixed one too). */
export const BUILD_HOSTNAME = "buildkitsandbox";

/** What to run where. */
export interface RunContainerRequest {
  step: RunStep;
  /** Snapshot directories of the stage so far, topmost first. */
  lowerDirs: string[];
  /** The step's layer directory (overlay upper dir); see `layer_dir.ts`. */
  upperDir: string;
  /** An empty directory on the upper dir's filesystem for the overlay work dir and helper files. */
  scratch: string;
  /** Resolved `RUN --mount`s. */
  mounts: MountSpec[];
  /** Extra `KEY=value` entries (secrets exposed as variables). */
  env?: string[];
  network: "none" | "host";
  onOutput?: (chunk: Uint8Array) => void;
  signal?: AbortSignal;
  /** An init spawned ahead of time (see `runOneShot`'s `init`). */
  init?: InitProcess;
}

/** How the step ended; `message` explains an exit code the container could not even start with. */
export interface RunContainerResult {
  exitCode: number;
  message?: string;
}

/** Absolute mount destinations a RUN container uses besides the step's own mounts. */
export const STANDARD_MOUNT_POINTS = ["/proc", "/dev", "/sys", "/etc/hosts", "/etc/resolv.conf"];

/**
 * Runs the step and waits for it.
 *
 * @example
 * ```ts
 * const r = await runStepContainer({ step, lowerDirs, upperDir, scratch, mounts: [], network: "none" });
 * if (r.exitCode !== 0) throw new Error(`exit code: ${r.exitCode}`);
 * ```
 */
export async function runStepContainer(req: RunContainerRequest): Promise<RunContainerResult> {
  try {
    await prepareScratch(req);
  } catch (e) {
    // runOneShot never saw the pre-spawned init: end it here.
    if (req.init) {
      try {
        req.init.child.kill("SIGKILL");
      } catch { /* gone */ }
      await req.init.child.status.catch(() => {});
    }
    throw e;
  }
  const { step, scratch } = req;
  const mounts = helperMounts(req);
  mounts.push(...req.mounts);
  const onOutput = req.onOutput ?? (() => {});
  try {
    const r = await runOneShot({
      rootfs: {
        kind: "overlay",
        lowerDirs: req.lowerDirs,
        upperDir: req.upperDir,
        workDir: `${scratch}/work`,
        target: `${scratch}/rootfs`,
      },
      args: step.argv,
      env: [...step.env, ...(req.env ?? [])],
      cwd: step.workdir,
      user: step.user,
      hostname: BUILD_HOSTNAME,
      network: req.network,
      mounts,
      onStdout: onOutput,
      onStderr: onOutput,
      signal: req.signal,
      init: req.init,
    });
    return { exitCode: r.exitCode };
  } catch (e) {
    if (e instanceof ContainerStartError) return { exitCode: e.code, message: e.message };
    throw e;
  }
}

/** The overlay work dir and mount point, `/etc/hosts`, `/etc/resolv.conf`, heredoc scripts. */
async function prepareScratch(req: RunContainerRequest): Promise<void> {
  const { step, scratch } = req;
  await Deno.mkdir(`${scratch}/work`);
  await Deno.mkdir(`${scratch}/rootfs`);
  await Deno.writeTextFile(
    `${scratch}/hosts`,
    `127.0.0.1\tlocalhost ${BUILD_HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
  );
  if (req.network === "host") {
    let resolv = "";
    try {
      resolv = await Deno.readTextFile("/etc/resolv.conf");
    } catch { /* none on the host */ }
    await Deno.writeTextFile(`${scratch}/resolv.conf`, resolv);
  }
  if (step.files.length) {
    await Deno.mkdir(`${scratch}/pipes`);
    for (const [i, f] of step.files.entries()) {
      const host = `${scratch}/pipes/${i}`;
      await Deno.writeTextFile(host, f.data);
      await Deno.chmod(host, f.mode);
    }
  }
}

/** Read-only binds of what {@linkcode prepareScratch} wrote. */
function helperMounts(req: RunContainerRequest): MountSpec[] {
  const ro = ["rbind", "ro"];
  const mounts: MountSpec[] = [
    { destination: "/etc/hosts", type: "bind", source: `${req.scratch}/hosts`, options: ro },
  ];
  if (req.network === "host") {
    mounts.push({
      destination: "/etc/resolv.conf",
      type: "bind",
      source: `${req.scratch}/resolv.conf`,
      options: ro,
    });
  }
  for (const [i, f] of req.step.files.entries()) {
    mounts.push({ destination: f.path, type: "bind", source: `${req.scratch}/pipes/${i}`, options: ro });
  }
  return mounts;
}
