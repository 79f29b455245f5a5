/**
 * A stored container → the {@linkcode InitSpec} its init receives: rootfs on overlay, Docker's
 * default mounts, volumes/binds/tmpfs (shallowest first), the /etc files, the confinement
 * (capabilities, seccomp, no_new_privs), rlimits, the cgroup's pids limit. Pure apart from
 * reading a `--security-opt seccomp=FILE` profile.
 *
 * @module
 */
import { RLIMIT } from "../ffi/constants.ts";
import { commandLine, type HostConfig } from "./container_config.ts";
import type { Container, ContainerPaths } from "./container_store.ts";
import { defaultMounts, type InitSpec, type MountSpec, type ProcessSpec } from "./init_spec.ts";
import type { CgroupView } from "./container_cgroup.ts";
import { computeCapabilities } from "./security/capabilities.ts";
import { confinementPlan, type ConfinementPlanJSON, planToJSON } from "./security/confine.ts";
import { MASKED_PATHS, READONLY_PATHS } from "./security/paths.ts";
import { parseSecurityOpts } from "./security/security_opt.ts";

/** What the spec needs beyond the stored container. */
export interface SpecContext {
  paths: ContainerPaths;
  /** Host directory of each volume mount, by container target. */
  volumeSources: Map<string, string>;
  /** cgroup v1 hierarchies to show (undefined on v2). */
  cgroupViews?: CgroupView[];
  pidsMax?: { path: string; value: string };
}

const plans = new Map<string, ConfinementPlanJSON>();

/**
 * The confinement of a container's processes — Docker's capability set with `--cap-add`,
 * `--cap-drop` and `--privileged`, the seccomp profile and no_new_privs of `--security-opt`
 * — compiled once per distinct setting and kept (compiling a profile takes ~10 ms).
 *
 * @example
 * ```ts
 * const { plan, maskPaths } = confinementFor(container.HostConfig);
 * ```
 */
export function confinementFor(
  hc: Pick<HostConfig, "CapAdd" | "CapDrop" | "Privileged" | "SecurityOpt">,
  options: { allCapabilities?: boolean } = {},
): { plan: ConfinementPlanJSON; maskPaths: boolean } {
  const security = parseSecurityOpts(hc.SecurityOpt, { privileged: hc.Privileged });
  const key = JSON.stringify([hc.CapAdd, hc.CapDrop, hc.Privileged, hc.SecurityOpt, options.allCapabilities]);
  let plan = plans.get(key);
  if (!plan) {
    const caps = computeCapabilities({
      capAdd: hc.CapAdd,
      capDrop: hc.CapDrop,
      privileged: hc.Privileged || options.allCapabilities,
    });
    plan = planToJSON(confinementPlan({ caps, security, user: { uid: 0, gid: 0 } }));
    plans.set(key, plan);
  }
  return { plan, maskPaths: security.maskPaths };
}

function depth(p: string): number {
  return p.split("/").filter((x) => x).length;
}

/**
 * The user's mounts as OCI mounts, shallowest first (so `/a` is mounted before `/a/b`).
 *
 * @example
 * ```ts
 * userMounts(container, new Map([["/data", "/var/lib/ctr/volumes/x/_data"]]));
 * ```
 */
export function userMounts(c: Container, volumeSources: Map<string, string>): MountSpec[] {
  const out: MountSpec[] = [];
  for (const m of c.HostConfig.Mounts) {
    const ro = m.ReadOnly ? ["ro"] : [];
    if (m.Type === "bind") {
      out.push({
        destination: m.Target,
        type: "bind",
        source: m.Source,
        options: ["rbind", ...ro, m.BindPropagation ?? "rprivate"],
      });
    } else if (m.Type === "volume") {
      const src = volumeSources.get(m.Target);
      if (!src) throw new Error(`No volume prepared for ${m.Target}`);
      out.push({ destination: m.Target, type: "bind", source: src, options: ["rbind", ...ro, "rprivate"] });
    } else {
      const data = ["nosuid", "nodev", "noexec", ...ro];
      if (m.TmpfsOptions?.SizeBytes) data.push(`size=${m.TmpfsOptions.SizeBytes}`);
      data.push(`mode=${(m.TmpfsOptions?.Mode ?? 0o1777).toString(8)}`);
      out.push({ destination: m.Target, type: "tmpfs", source: "tmpfs", options: data });
    }
  }
  // Image VOLUMEs not covered by an explicit mount are anonymous volumes.
  for (const target of Object.keys(c.Config.Volumes ?? {})) {
    if (c.HostConfig.Mounts.some((m) => m.Target === target)) continue;
    const src = volumeSources.get(target);
    if (src) out.push({ destination: target, type: "bind", source: src, options: ["rbind", "rprivate"] });
  }
  return out.sort((a, b) => depth(a.destination) - depth(b.destination));
}

/** The process part of a container's spec (also the base of `exec`). */
export function processSpec(c: Container): ProcessSpec {
  const hc = c.HostConfig;
  return {
    args: commandLine(c.Config),
    env: c.Config.Env,
    cwd: c.Config.WorkingDir || "/",
    user: c.Config.User,
    groupAdd: hc.GroupAdd,
    terminal: c.Config.Tty,
    stdin: c.Config.OpenStdin,
    rlimits: hc.Ulimits.map((u) => ({ type: RLIMIT[u.Name], soft: u.Soft, hard: u.Hard })),
    init: hc.Init,
  };
}

/**
 * The init spec of a container start.
 *
 * @example
 * ```ts
 * const spec = buildInitSpec(container, { paths, volumeSources, cgroupV1Controllers });
 * ```
 */
export function buildInitSpec(c: Container, ctx: SpecContext): InitSpec {
  const hc = c.HostConfig;
  const mounts: MountSpec[] = [
    ...defaultMounts({ shmSize: hc.ShmSize }),
    ...userMounts(c, ctx.volumeSources),
  ];
  const etc: [string, string][] = [
    ["/etc/resolv.conf", ctx.paths.resolvConf],
    ["/etc/hostname", ctx.paths.hostname],
    ["/etc/hosts", ctx.paths.hosts],
  ];
  for (const [dest, src] of etc) {
    // An explicit mount of the same file wins.
    if (!mounts.some((m) => m.destination === dest)) {
      mounts.push({ destination: dest, type: "bind", source: src, options: ["rbind", "rprivate"] });
    }
  }
  if (hc.Privileged) {
    const sys = mounts.find((m) => m.destination === "/sys");
    if (sys) sys.options = sys.options.filter((o) => o !== "ro");
  }
  const { plan, maskPaths } = confinementFor(hc);
  return {
    mode: "create",
    rootfs: c.LowerDirs.length
      ? {
        kind: "overlay",
        lowerDirs: c.LowerDirs,
        upperDir: ctx.paths.upper,
        workDir: ctx.paths.work,
        target: ctx.paths.rootfs,
      }
      : { kind: "dir", path: ctx.paths.upper },
    readonlyRootfs: hc.ReadonlyRootfs,
    hostname: hc.NetworkMode === "host" ? undefined : c.Config.Hostname,
    domainname: c.Config.Domainname || undefined,
    network: hc.NetworkMode === "host" ? "host" : "none",
    mounts,
    maskedPaths: maskPaths ? [...MASKED_PATHS] : [],
    readonlyPaths: maskPaths ? [...READONLY_PATHS] : [],
    cgroupViews: ctx.cgroupViews,
    pidsMax: ctx.pidsMax,
    process: processSpec(c),
    confinement: plan,
  };
}

/**
 * The contents of the container's /etc/hosts for a network without addresses.
 *
 * @example
 * ```ts
 * hostsFile("web"); // "127.0.0.1\tlocalhost\n…"
 * ```
 */
export function hostsFile(hostname: string): string {
  return [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
    `127.0.1.1\t${hostname}`,
    "",
  ].join("\n");
}

/**
 * The host's resolv.conf without loopback nameservers (unreachable from another network
 * namespace), as Docker filters it.
 *
 * @example
 * ```ts
 * filterResolvConf("nameserver 127.0.0.53\nnameserver 1.1.1.1\n"); // "nameserver 1.1.1.1\n"
 * ```
 */
export function filterResolvConf(text: string): string {
  return text.split("\n").filter((l) => !/^\s*nameserver\s+(127\.|::1\s*$)/.test(l)).join("\n");
}
