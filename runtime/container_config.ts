/**
 * A container's configuration, in Docker's vocabulary (`Config` + `HostConfig`, as `docker
 * inspect` shows them), and the pure merge of what the user asked for with the image's own
 * config: Entrypoint/Cmd, Env, WorkingDir, User, StopSignal, Volumes and Labels.
 *
 * @module
 */
import type { IdMapping } from "./security/userns.ts";
import type { ImageConfig } from "../image/oci.ts";

/** A `--mount` / `-v` / `--tmpfs` entry. */
export interface MountOption {
  Type: "bind" | "volume" | "tmpfs";
  /** Host path (bind) or volume name (volume; empty = anonymous); unused for tmpfs. */
  Source: string;
  /** Absolute path inside the container. */
  Target: string;
  ReadOnly: boolean;
  /** tmpfs size in bytes (0 = kernel default) and mode. */
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
  /** Volume: do not copy the image's content into a new empty volume. */
  VolumeNoCopy?: boolean;
  /** Bind propagation (`rprivate` by default). */
  BindPropagation?: string;
}

/** A `--ulimit`. */
export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

/** Docker's restart policy. */
export interface RestartPolicy {
  Name: "no" | "always" | "unless-stopped" | "on-failure";
  MaximumRetryCount: number;
}

/** The "what to run" half (Docker's `Config`). */
export interface ContainerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[];
  Cmd: string[];
  Entrypoint: string[] | null;
  Image: string;
  Volumes: Record<string, Record<string, never>> | null;
  WorkingDir: string;
  Labels: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
  /** `80/tcp` → {} for every port the image EXPOSEs or `--expose`/`-p` names. */
  ExposedPorts?: Record<string, Record<string, never>>;
}

/** The "how to run it" half (Docker's `HostConfig`). */
export interface HostConfig {
  Binds: string[];
  NetworkMode: string;
  RestartPolicy: RestartPolicy;
  AutoRemove: boolean;
  Mounts: MountOption[];
  ReadonlyRootfs: boolean;
  GroupAdd: string[];
  CapAdd: string[];
  CapDrop: string[];
  Init: boolean;
  ShmSize: number;
  Memory: number;
  MemorySwap: number;
  NanoCpus: number;
  CpuShares: number;
  PidsLimit: number;
  Ulimits: Ulimit[];
  Privileged: boolean;
  SecurityOpt: string[];
  /** `--userns`: `host`, `auto`, or empty (the daemon-wide `userns-remap`, if any). */
  UsernsMode?: string;
  /**
   * ctr's record of the user namespace a container runs in (resolved at create from
   * `UsernsMode` and the remap setting, kept so a restart maps the same ids); absent = host ids.
   */
  IdMappings?: { UidMap: IdMapping[]; GidMap: IdMapping[]; Block: number };
  /** Network fields (runtime/network/run_flags.ts); absent in records made before networking. */
  PortBindings?: Record<string, { HostIp: string; HostPort: string }[]>;
  PublishAllPorts?: boolean;
  Dns?: string[];
  DnsSearch?: string[];
  DnsOptions?: string[];
  ExtraHosts?: string[];
  /** Logging (`--log-opt`, merged with the daemon's `log-opts` at create; see `log_options.ts`). */
  LogConfig?: { Type: string; Config: Record<string, string> };
}

/** What `create`/`run` send to the supervisor: the user's choices before the image is merged in. */
export interface CreateRequest {
  /** `--name`, without the leading slash; empty for a generated name. */
  name: string;
  image: string;
  /** Arguments after the image (empty = the image's Cmd). */
  cmd: string[];
  /** `--entrypoint` (undefined = the image's; `""` clears it). */
  entrypoint?: string;
  env: string[];
  workingDir?: string;
  user?: string;
  hostname?: string;
  domainname?: string;
  labels: Record<string, string>;
  tty: boolean;
  openStdin: boolean;
  /** `--expose` and `-p` ports (`80/tcp`), merged with the image's ExposedPorts. */
  exposedPorts?: string[];
  /** `--network-alias` and `--ip` for the first network. */
  networking?: { aliases: string[]; ip?: string };
  stopSignal?: string;
  stopTimeout?: number;
  hostConfig: HostConfig;
}

/** The defaults `ctr create` starts from. */
export function defaultHostConfig(): HostConfig {
  return {
    Binds: [],
    NetworkMode: "none",
    RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
    AutoRemove: false,
    Mounts: [],
    ReadonlyRootfs: false,
    GroupAdd: [],
    CapAdd: [],
    CapDrop: [],
    Init: false,
    ShmSize: 64 * 1024 * 1024,
    Memory: 0,
    MemorySwap: 0,
    NanoCpus: 0,
    CpuShares: 0,
    PidsLimit: 0,
    Ulimits: [],
    Privileged: false,
    SecurityOpt: [],
  };
}

function envKey(e: string): string {
  const i = e.indexOf("=");
  return i === -1 ? e : e.slice(0, i);
}

/**
 * Environment merge: later entries replace earlier ones with the same key, order kept.
 *
 * @example
 * ```ts
 * mergeEnv(["PATH=/bin", "A=1"], ["A=2"]); // ["PATH=/bin", "A=2"]
 * ```
 */
export function mergeEnv(base: string[], overrides: string[]): string[] {
  const out = [...base];
  for (const e of overrides) {
    const k = envKey(e);
    const i = out.findIndex((x) => envKey(x) === k);
    if (i === -1) out.push(e);
    else out[i] = e;
  }
  return out;
}

/**
 * The container's `Config`: the request merged over the image's config, as Docker does
 * (`--entrypoint` drops the image's Cmd; arguments replace Cmd; env by key).
 * Throws `TypeError("No command specified")` when nothing is left to run.
 *
 * @example
 * ```ts
 * const config = mergeImageConfig(request, image.config, "3f57d9401f8d");
 * ```
 */
export function mergeImageConfig(req: CreateRequest, image: ImageConfig, shortId: string): ContainerConfig {
  const ic = image.config ?? {};
  let entrypoint: string[] | null = ic.Entrypoint?.length ? [...ic.Entrypoint] : null;
  let cmd: string[] = ic.Cmd?.length ? [...ic.Cmd] : [];
  if (req.entrypoint !== undefined) {
    entrypoint = req.entrypoint === "" ? null : [req.entrypoint];
    cmd = [];
  }
  if (req.cmd.length) cmd = [...req.cmd];
  if (!(entrypoint?.length) && !cmd.length) throw new TypeError("No command specified");
  const hostname = req.hostname || shortId;
  let env = mergeEnv(ic.Env ?? [], req.env);
  if (!env.some((e) => e.startsWith("PATH="))) {
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ...env];
  }
  env = mergeEnv([`HOSTNAME=${hostname}`], env);
  if (req.tty && !env.some((e) => e.startsWith("TERM="))) env.push("TERM=xterm");
  return {
    Hostname: hostname,
    Domainname: req.domainname ?? "",
    User: req.user ?? ic.User ?? "",
    AttachStdin: req.openStdin,
    AttachStdout: true,
    AttachStderr: true,
    Tty: req.tty,
    OpenStdin: req.openStdin,
    StdinOnce: req.openStdin,
    Env: env,
    Cmd: cmd,
    Entrypoint: entrypoint,
    Image: req.image,
    Volumes: ic.Volumes && Object.keys(ic.Volumes).length ? { ...ic.Volumes } : null,
    WorkingDir: req.workingDir ?? ic.WorkingDir ?? "",
    Labels: { ...(ic.Labels ?? {}), ...req.labels },
    StopSignal: req.stopSignal ?? ic.StopSignal,
    StopTimeout: req.stopTimeout,
    ...exposedPortsOf(ic.ExposedPorts, req.exposedPorts),
  };
}

function exposedPortsOf(
  image: Record<string, unknown> | undefined,
  requested: string[] | undefined,
): { ExposedPorts?: Record<string, Record<string, never>> } {
  const keys = [...Object.keys(image ?? {}), ...(requested ?? [])].map((
    k,
  ) => (k.includes("/") ? k : `${k}/tcp`));
  return keys.length ? { ExposedPorts: Object.fromEntries(keys.map((k) => [k, {}])) } : {};
}

/** The argv the container runs: Entrypoint then Cmd. */
export function commandLine(config: ContainerConfig): string[] {
  return [...(config.Entrypoint ?? []), ...config.Cmd];
}
