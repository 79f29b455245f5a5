/**
 * `ctr system info` (and the server part of `ctr version`): what ctr runs on and what a state
 * root holds, with the field names of `docker info --format json` where the meaning is the
 * same (`Containers`, `ContainersRunning`, `Images`, `Driver`, `KernelVersion`, `NCPU`,
 * `MemTotal`, `DockerRootDir`, …) plus ctr's own (`Supervisor`, `Deno`).
 *
 * Reads files only (`/proc`, the state root's database and pid files): no FFI, no network,
 * nothing started — `info` on a root that does not exist reports an empty one.
 *
 * @module
 */
import { parseCgroupMounts } from "./cgroups/layout.ts";

/** What `ctr system info --format json` prints. */
export interface SystemInfo {
  Containers: number;
  ContainersRunning: number;
  ContainersPaused: number;
  ContainersStopped: number;
  Images: number;
  Volumes: number;
  ServerVersion: string;
  Driver: "overlay";
  DriverStatus: [string, string][];
  LoggingDriver: "json-file";
  CgroupDriver: "cgroupfs";
  CgroupVersion: "1" | "2";
  Plugins: { Volume: string[]; Network: string[]; Log: string[] };
  SecurityOptions: string[];
  KernelVersion: string;
  OperatingSystem: string;
  OSType: string;
  Architecture: string;
  NCPU: number;
  MemTotal: number;
  Name: string;
  DockerRootDir: string;
  Debug: boolean;
  /** The supervisor of this root: running or not, its pid. */
  Supervisor: { Running: boolean; Pid: number | null };
  Deno: string;
}

function read(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The filesystem type of the mount holding `path` (from mountinfo: the longest mount prefix). */
export function backingFilesystem(path: string, mountinfo = read("/proc/self/mountinfo")): string {
  let best = "", type = "unknown";
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    const sep = f.indexOf("-");
    if (sep < 0) continue;
    const point = f[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    const inside = path === point || path.startsWith(point === "/" ? "/" : point + "/");
    if (inside && point.length >= best.length) {
      best = point;
      type = f[sep + 1];
    }
  }
  return type;
}

/** The pid of the supervisor of `root` if it runs (its pid file names a live process of this root). */
export function supervisorPid(root: string): number | null {
  const pid = Number(read(`${root}/supervisor.pid`).trim());
  if (!(pid > 1)) return null;
  return read(`/proc/${pid}/cmdline`).split("\0").includes(root) ? pid : null;
}

/**
 * Gathers the information of `ctr system info`.
 *
 * @example
 * ```ts
 * const info = await systemInfo("/var/lib/ctr", "0.1.0");
 * console.log(info.ContainersRunning);
 * ```
 */
export async function systemInfo(root: string, version: string, debug = false): Promise<SystemInfo> {
  let containers: { State: { Status: string } }[] = [];
  let images = 0, volumes = 0;
  if (exists(`${root}/ctr.db`)) {
    const [{ ImageStore }, { migrate }, { containerSchema, ContainerStore }, { VolumeStore }] = await Promise
      .all([
        import("../image/image_store.ts"),
        import("../image/db.ts"),
        import("./container_store.ts"),
        import("./volume_store.ts"),
      ]);
    const store = ImageStore.open(root);
    try {
      migrate(store.db, [containerSchema]);
      images = store.list().length;
      containers = new ContainerStore(store.db).list();
      volumes = new VolumeStore(root, store.db).list().length;
    } finally {
      store.close();
    }
  }
  const count = (...s: string[]) => containers.filter((c) => s.includes(c.State.Status)).length;
  const cgroups = parseCgroupMounts(read("/proc/self/mountinfo"));
  const config = (() => {
    try {
      return JSON.parse(read(Deno.env.get("CTR_CONFIG") || `${root}/config.json`) || "{}");
    } catch {
      return {};
    }
  })();
  const security = ["name=seccomp,profile=builtin", "name=no-new-privileges"];
  if (config["userns-remap"]) security.push(`name=userns,remap=${config["userns-remap"]}`);
  const pid = supervisorPid(root);
  const os = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(read("/etc/os-release"))?.[1] ?? "Linux";
  return {
    Containers: containers.length,
    ContainersRunning: count("running", "restarting"),
    ContainersPaused: count("paused"),
    ContainersStopped: containers.length - count("running", "restarting", "paused"),
    Images: images,
    Volumes: volumes,
    ServerVersion: version,
    Driver: "overlay",
    DriverStatus: [["Backing Filesystem", backingFilesystem(root)], ["Supports d_type", "true"]],
    LoggingDriver: "json-file",
    CgroupDriver: "cgroupfs",
    CgroupVersion: cgroups.mode === "v2" ? "2" : "1",
    Plugins: { Volume: ["local"], Network: ["bridge", "host", "none"], Log: ["json-file"] },
    SecurityOptions: security,
    KernelVersion: read("/proc/sys/kernel/osrelease").trim(),
    OperatingSystem: os,
    OSType: "linux",
    Architecture: Deno.build.arch,
    NCPU: navigator.hardwareConcurrency,
    MemTotal: Number(/^MemTotal:\s+(\d+)/m.exec(read("/proc/meminfo"))?.[1] ?? 0) * 1024,
    Name: read("/proc/sys/kernel/hostname").trim(),
    DockerRootDir: root,
    Debug: debug,
    Supervisor: { Running: pid !== null, Pid: pid },
    Deno: Deno.version.deno,
  };
}
