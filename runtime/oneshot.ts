/**
 * One-shot containers for library callers — the image builder's `RUN` steps above all: run a
 * command in a root filesystem (overlay over snapshots plus the caller's own upper dir, or a
 * plain directory), wait for it, and return its exit code and output. No supervisor, no
 * database, no state root: the calling process is the container's parent for its lifetime,
 * and nothing is left behind (the mounts live and die in the container's mount namespace,
 * the cgroup — only made when limits are given — is removed).
 *
 * The upper dir stays with the caller, who diffs it into a layer.
 *
 * @module
 */
import { ContainerCgroup, type ContainerLimits } from "./container_cgroup.ts";
import { confinementFor } from "./container_spec.ts";
import { defaultMounts, type InitSpec, type MountSpec, type RootfsSpec } from "./init_spec.ts";
import { MASKED_PATHS, READONLY_PATHS } from "./security/paths.ts";
import { InitProcess } from "./init_process.ts";

/** What to run, and where. */
export interface OneShotOptions {
  /**
   * Overlay (snapshots topmost first + the caller's upper/work dirs; `target`, the mount
   * point, may be "" for a temporary one) or a directory used as it is.
   */
  rootfs: RootfsSpec;
  /** The command, already split (the builder expands shell form itself: `["/bin/sh", "-c", …]`). */
  args: string[];
  /** `KEY=value` entries. PATH defaults to Docker's when absent. */
  env?: string[];
  /** Working directory, created when missing (default `/`). */
  cwd?: string;
  /** `uid[:gid]` or `name[:group]` (default root). */
  user?: string;
  hostname?: string;
  /** `none` (default: only `lo`) or `host`, or a network namespace path to join. */
  network?: string;
  /** Extra mounts (binds, tmpfs, caches), after the standard ones. */
  mounts?: MountSpec[];
  /** Bytes for stdin; none means /dev/null. */
  stdin?: Uint8Array;
  /** Receives stdout chunks as they come; when absent, stdout is collected into the result. */
  onStdout?: (chunk: Uint8Array) => void;
  /** Receives stderr chunks as they come; when absent, stderr is collected into the result. */
  onStderr?: (chunk: Uint8Array) => void;
  /** Docker's resource settings; a cgroup `<cgroupParent>/<random>` is made only when given. */
  limits?: Partial<ContainerLimits>;
  /** Parent cgroup name (default `ctr-oneshot`). */
  cgroupParent?: string;
  readonlyRootfs?: boolean;
  /** Extra capabilities beyond Docker's default set. */
  capAdd?: string[];
  /** `--security-opt` values (seccomp profile, no-new-privileges). */
  securityOpt?: string[];
  /** Kill the container when this signal aborts. */
  signal?: AbortSignal;
  /**
   * An init spawned ahead of time (`InitProcess.spawn()`, not yet started) to use instead of
   * spawning one now: a caller that knows another run is coming (the builder's next RUN)
   * hides the init's start-up behind its own work. It is consumed either way.
   */
  init?: InitProcess;
}

/** How it ended. */
export interface OneShotResult {
  /** The command's exit code (128+signal when killed). */
  exitCode: number;
  /** Whether the memory limit's OOM killer struck. */
  oomKilled: boolean;
  /** Collected stdout (empty when `onStdout` was given). */
  stdout: Uint8Array;
  /** Collected stderr (empty when `onStderr` was given). */
  stderr: Uint8Array;
}

async function pump(stream: ReadableStream<Uint8Array>, sink?: (c: Uint8Array) => void): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of stream) {
    if (sink) sink(c);
    else chunks.push(c);
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * Runs one command in a fresh container and waits for it. Throws `ContainerStartError`
 * (with `code` 125, 126 or 127) when the container cannot start or the command is not found.
 *
 * @example
 * ```ts
 * const r = await runOneShot({
 *   rootfs: { kind: "overlay", lowerDirs: snap.lowerDirs, upperDir, workDir, target: mnt },
 *   args: ["/bin/sh", "-c", "echo hi > /greeting"],
 * });
 * // r.exitCode === 0; upperDir now holds /greeting
 * ```
 */
export async function runOneShot(options: OneShotOptions): Promise<OneShotResult> {
  let cgroup: ContainerCgroup | undefined;
  const limits: ContainerLimits = {
    Memory: 0,
    MemorySwap: 0,
    NanoCpus: 0,
    CpuShares: 0,
    PidsLimit: 0,
    Privileged: false,
    ...options.limits,
  };
  if (options.limits) {
    const id = crypto.randomUUID().replaceAll("-", "");
    cgroup = new ContainerCgroup("", id, `${options.cgroupParent ?? "ctr-oneshot"}/${id}`);
    await cgroup.create(limits);
  }
  let target = options.rootfs.kind === "overlay" ? options.rootfs.target : undefined;
  const madeTarget = options.rootfs.kind === "overlay" && !target;
  if (madeTarget) target = await Deno.makeTempDir({ prefix: "ctr-rootfs-" });
  const rootfs: RootfsSpec = options.rootfs.kind === "overlay"
    ? { ...options.rootfs, target: target! }
    : options.rootfs;
  const init = options.init ?? InitProcess.spawn();
  try {
    const stdout = pump(init.child.stdout, options.onStdout);
    const stderr = pump(init.child.stderr, options.onStderr);
    await init.ready;
    if (cgroup) await cgroup.join(init.pid);
    const { plan, maskPaths } = confinementFor({
      CapAdd: options.capAdd ?? [],
      CapDrop: [],
      Privileged: false,
      SecurityOpt: options.securityOpt ?? [],
    });
    const spec: InitSpec = {
      mode: "create",
      rootfs,
      readonlyRootfs: options.readonlyRootfs,
      hostname: options.hostname ?? crypto.randomUUID().replaceAll("-", "").slice(0, 12),
      network: options.network ?? "none",
      mounts: [...defaultMounts({ shmSize: 64 << 20 }), ...(options.mounts ?? [])],
      maskedPaths: maskPaths ? [...MASKED_PATHS] : [],
      readonlyPaths: maskPaths ? [...READONLY_PATHS] : [],
      cgroupViews: (cgroup ?? new ContainerCgroup("", "view", "ctr-oneshot/view")).views,
      pidsMax: cgroup?.pidsMax(limits),
      confinement: plan,
      process: {
        args: options.args,
        env: options.env ?? [],
        cwd: options.cwd ?? "/",
        user: options.user ?? "",
        groupAdd: [],
        terminal: false,
        stdin: options.stdin !== undefined,
        rlimits: [],
        init: false,
      },
    };
    const abort = () => {
      try {
        init.child.kill("SIGKILL");
      } catch { /* gone */ }
    };
    options.signal?.addEventListener("abort", abort);
    try {
      await init.start(spec, { keepStdin: options.stdin !== undefined });
      if (options.stdin !== undefined) {
        const w = init.child.stdin.getWriter();
        await w.write(options.stdin).catch(() => {});
        await w.close().catch(() => {});
      }
      const status = await init.child.status;
      const [out, err] = await Promise.all([stdout, stderr]);
      return {
        exitCode: status.code,
        oomKilled: (await cgroup?.oomKilled()) ?? false,
        stdout: out,
        stderr: err,
      };
    } finally {
      options.signal?.removeEventListener("abort", abort);
    }
  } finally {
    try {
      init.child.kill("SIGKILL");
    } catch { /* already exited */ }
    await init.child.status;
    if (cgroup) {
      await cgroup.killAll().catch(() => {});
      await cgroup.destroy(); // and the shared parent when no other run uses it
    }
    if (madeTarget) await Deno.remove(target!).catch(() => {});
  }
}
