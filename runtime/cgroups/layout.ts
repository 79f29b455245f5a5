/**
 * Which cgroup hierarchies a host has and where they are mounted, read from
 * `/proc/self/mountinfo`, and the name of a container's cgroup under them.
 *
 * Three layouts exist in the wild:
 * - **v2 (unified)**: one `cgroup2` mount, usually `/sys/fs/cgroup`, holding every controller.
 * - **v1 (legacy)**: one `cgroup` mount per controller (or per co-mounted group such as
 *   `cpu,cpuacct`), usually `/sys/fs/cgroup/<name>`.
 * - **hybrid**: v1 controllers plus a `cgroup2` mount (often `/sys/fs/cgroup/unified`) that
 *   holds no controllers. Resources must then go through v1 (crun 1.8 refuses this layout; we
 *   do not).
 *
 * @module
 */
import { createHash } from "node:crypto";

/** v1 controllers ctr creates a cgroup in (when the host mounts them). */
export const V1_CONTROLLERS = [
  "cpu",
  "cpuacct",
  "cpuset",
  "memory",
  "pids",
  "freezer",
  "devices",
  "blkio",
] as const;

/** v2 controllers ctr enables for its containers (those the hierarchy offers). */
export const V2_CONTROLLERS = ["cpu", "cpuset", "io", "memory", "pids", "hugetlb"] as const;

/** The cgroup hierarchies of a host. */
export interface CgroupLayout {
  /** `v2` when a cgroup2 hierarchy holds the controllers, `v1` or `hybrid` otherwise. */
  mode: "v1" | "v2" | "hybrid";
  /** v1: controller name → mount point (co-mounted controllers share one). */
  v1: Record<string, string>;
  /** The cgroup2 mount point, if any (hybrid hosts have one without controllers). */
  unified: string | null;
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Parses `/proc/self/mountinfo` text into a layout (pure). `mode` is decided by where the
 * controllers are: any v1 controller mount makes it `v1` (`hybrid` with a cgroup2 mount too).
 *
 * @example
 * ```ts
 * parseCgroupMounts("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n").mode; // "v2"
 * ```
 */
export function parseCgroupMounts(mountinfo: string): CgroupLayout {
  const v1: Record<string, string> = {};
  let unified: string | null = null;
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(" ");
    const [fstype, , superOpts = ""] = line.slice(sep + 3).split(" ");
    const mountPoint = unescapeMountinfo(left[4] ?? "");
    if (fstype === "cgroup2") {
      unified ??= mountPoint;
    } else if (fstype === "cgroup") {
      for (const opt of superOpts.split(",")) {
        if ((V1_CONTROLLERS as readonly string[]).includes(opt)) v1[opt] ??= mountPoint;
      }
    }
  }
  const hasV1 = Object.keys(v1).length > 0;
  return { mode: hasV1 ? (unified ? "hybrid" : "v1") : "v2", v1, unified };
}

let cached: CgroupLayout | undefined;

/**
 * The layout of this host (read once per process).
 *
 * @example
 * ```ts
 * const layout = detectCgroupLayout(); // { mode: "hybrid", v1: { memory: "/sys/fs/cgroup/memory", … }, … }
 * ```
 */
export function detectCgroupLayout(): CgroupLayout {
  if (!cached) {
    cached = parseCgroupMounts(Deno.readTextFileSync("/proc/self/mountinfo"));
    if (cached.mode === "v2" && !cached.unified) {
      throw new Error(
        "No cgroup hierarchy is mounted (neither cgroup v1 nor cgroup2 in /proc/self/mountinfo)",
      );
    }
  }
  return cached;
}

/**
 * The per-state-root parent cgroup name: `ctr-` and 12 hex digits of sha256 of the root's path,
 * so that state roots (parallel test roots included) never share cgroups.
 *
 * @example
 * ```ts
 * cgroupParentFor("/var/lib/ctr"); // "ctr-…" (stable for the same root)
 * ```
 */
export function cgroupParentFor(stateRoot: string): string {
  return `ctr-${createHash("sha256").update(stateRoot).digest("hex").slice(0, 12)}`;
}

/**
 * The cgroup path of container `id` under a state root: `ctr-<hash>/<id>`.
 *
 * @example
 * ```ts
 * cgroupPathFor("/var/lib/ctr", "abc"); // "ctr-…/abc"
 * ```
 */
export function cgroupPathFor(stateRoot: string, id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id)) throw new TypeError(`Invalid cgroup name: ${id}`);
  return `${cgroupParentFor(stateRoot)}/${id}`;
}
