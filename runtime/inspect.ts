/**
 * How containers look from the outside, in Docker's shapes: `inspect` JSON, `ps` rows and
 * their status texts ("Up 3 seconds", "Exited (0) 2 minutes ago"), and `ps --filter`.
 * Pure: everything comes in as stored records and the current time.
 *
 * @module
 */
import { commandLine } from "./container_config.ts";
import type { Container, ContainerPaths } from "./container_store.ts";

const ZERO_TIME = "0001-01-01T00:00:00Z";

function iso(ms: number): string {
  return ms ? new Date(ms).toISOString() : ZERO_TIME;
}

/**
 * Docker's human duration ("Less than a second", "About a minute", "3 hours", …).
 *
 * @example
 * ```ts
 * humanDuration(90_000); // "About a minute"
 * ```
 */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return "Less than a second";
  if (s === 1) return "1 second";
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return "About a minute";
  if (m < 60) return `${m} minutes`;
  const h = Math.round(m / 60);
  if (h === 1) return "About an hour";
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

/**
 * The STATUS column of `ps`.
 *
 * @example
 * ```ts
 * statusText(container, Date.now()); // "Exited (137) 5 seconds ago"
 * ```
 */
export function statusText(c: Container, now: number): string {
  const s = c.State;
  switch (s.Status) {
    case "running":
      return `Up ${humanDuration(now - s.StartedAt)}`;
    case "paused":
      return `Up ${humanDuration(now - s.StartedAt)} (Paused)`;
    case "restarting":
      return `Restarting (${s.ExitCode}) ${humanDuration(now - s.FinishedAt)} ago`;
    case "exited":
      return `Exited (${s.ExitCode}) ${humanDuration(now - s.FinishedAt)} ago`;
    case "removing":
      return "Removal In Progress";
    case "dead":
      return "Dead";
    default:
      return "Created";
  }
}

/** The COMMAND column: quoted, truncated to 20 characters unless `noTrunc`. */
export function commandText(c: Container, noTrunc = false): string {
  const cmd = commandLine(c.Config).join(" ");
  const short = !noTrunc && cmd.length > 20 ? cmd.slice(0, 19) + "…" : cmd;
  return `"${short}"`;
}

/** One `ps` row, with Docker's `--format json` field names. */
export interface PsRow {
  ID: string;
  Image: string;
  Command: string;
  CreatedAt: string;
  RunningFor: string;
  Ports: string;
  State: string;
  Status: string;
  Size: string;
  Names: string;
  Labels: string;
  Mounts: string;
  Networks: string;
  LocalVolumes: string;
}

/**
 * A `ps` row.
 *
 * @example
 * ```ts
 * psRow(container, Date.now(), { noTrunc: false }).Status;
 * ```
 */
export function psRow(c: Container, now: number, options: { noTrunc?: boolean } = {}): PsRow {
  const created = new Date(c.Created);
  const pad = (n: number) => String(n).padStart(2, "0");
  const createdAt =
    `${created.getUTCFullYear()}-${pad(created.getUTCMonth() + 1)}-${pad(created.getUTCDate())} ` +
    `${pad(created.getUTCHours())}:${pad(created.getUTCMinutes())}:${pad(created.getUTCSeconds())} +0000 UTC`;
  const volumes = c.HostConfig.Mounts.filter((m) => m.Type === "volume").length +
    Object.keys(c.Config.Volumes ?? {}).length;
  return {
    ID: options.noTrunc ? c.Id : c.Id.slice(0, 12),
    Image: c.Config.Image,
    Command: commandText(c, options.noTrunc),
    CreatedAt: createdAt,
    RunningFor: `${humanDuration(now - c.Created)} ago`,
    // The supervisor's list adds the published ports (runtime/network/attach.ts psPorts).
    Ports: (c as Container & { Ports?: string }).Ports ?? "",
    State: c.State.Status,
    Status: statusText(c, now),
    Size: "0B",
    Names: c.Name,
    Labels: Object.entries(c.Config.Labels).map(([k, v]) => `${k}=${v}`).join(","),
    Mounts: c.HostConfig.Mounts.map((m) => m.Type === "bind" ? m.Source : m.Source || m.Target).join(","),
    Networks: c.HostConfig.NetworkMode,
    LocalVolumes: String(volumes),
  };
}

const PS_FILTER_KEYS = [
  "name",
  "id",
  "status",
  "label",
  "ancestor",
  "exited",
  "before",
  "since",
  "volume",
  "network",
];
const STATUSES = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];

/**
 * Checks `ps --filter` values and groups them by key; throws `TypeError` naming a bad one
 * (unknown key, unknown status, non-numeric exit code, broken name pattern) — also when no
 * container would be tested against it.
 *
 * @example
 * ```ts
 * parsePsFilters(["status=exited", "name=web"]); // Map { "status" => ["exited"], "name" => ["web"] }
 * ```
 */
export function parsePsFilters(filters: string[]): Map<string, string[]> {
  const byKey = new Map<string, string[]>();
  for (const f of filters) {
    const eq = f.indexOf("=");
    if (eq === -1) throw new TypeError(`bad format of filter (expected name=value): ${f}`);
    const key = f.slice(0, eq).toLowerCase();
    const value = f.slice(eq + 1);
    if (!PS_FILTER_KEYS.includes(key)) throw new TypeError(`invalid filter '${key}'`);
    if (key === "status" && !STATUSES.includes(value)) {
      throw new TypeError(`invalid filter 'status=${value}': a status is one of ${STATUSES.join(", ")}`);
    }
    if (key === "exited" && !/^-?\d+$/.test(value)) {
      throw new TypeError(`invalid filter 'exited=${value}': an exit code is an integer`);
    }
    if (key === "name") {
      try {
        new RegExp(value.replace(/^\//, ""));
      } catch {
        throw new TypeError(`invalid filter 'name=${value}': not a valid pattern`);
      }
    }
    byKey.set(key, [...(byKey.get(key) ?? []), value]);
  }
  return byKey;
}

/**
 * Whether a container passes `ps --filter` filters (`name=`, `id=`, `status=`, `label=`,
 * `ancestor=`, `exited=`, `before=`/`since=` are matched against ids/names of `all`).
 * Same-key filters are OR'ed, different keys AND'ed, as in Docker.
 *
 * @example
 * ```ts
 * matchesFilters(c, ["status=exited", "name=web"], all);
 * ```
 */
export function matchesFilters(c: Container, filters: string[], all: Container[] = []): boolean {
  const byKey = parsePsFilters(filters);
  const find = (ref: string) =>
    all.find((x) => x.Id === ref || x.Name === ref.replace(/^\//, "") || x.Id.startsWith(ref));
  for (const [key, values] of byKey) {
    const ok = values.some((v) => {
      switch (key) {
        case "name":
          return new RegExp(v.replace(/^\//, "")).test(c.Name);
        case "id":
          return c.Id.startsWith(v);
        case "status":
          return c.State.Status === v;
        case "label": {
          const eq = v.indexOf("=");
          if (eq === -1) return v in c.Config.Labels;
          return c.Config.Labels[v.slice(0, eq)] === v.slice(eq + 1);
        }
        case "ancestor":
          return c.Config.Image === v || c.ImageId === v || c.ImageId.replace("sha256:", "").startsWith(v) ||
            c.Config.Image === `${v}:latest`;
        case "exited":
          return c.State.Status === "exited" && c.State.ExitCode === Number(v);
        case "before": {
          const ref = find(v);
          return ref !== undefined && c.Created < ref.Created;
        }
        case "since": {
          const ref = find(v);
          return ref !== undefined && c.Created > ref.Created;
        }
        case "volume":
          return c.HostConfig.Mounts.some((m) => m.Source === v || m.Target === v);
        case "network":
          return c.HostConfig.NetworkMode === v;
        default:
          throw new TypeError(`invalid filter '${key}'`);
      }
    });
    if (!ok) return false;
  }
  return true;
}

/**
 * `docker inspect`-shaped JSON of a container.
 *
 * @example
 * ```ts
 * JSON.stringify([inspectContainer(c, paths)], null, 4);
 * ```
 */
export function inspectContainer(
  c: Container,
  paths: ContainerPaths,
  volumePaths: Map<string, string> = new Map(),
) {
  const s = c.State;
  const mounts = c.HostConfig.Mounts.map((m) => ({
    Type: m.Type,
    Name: m.Type === "volume" ? m.Source : undefined,
    Source: m.Type === "volume" ? volumePaths.get(m.Target) ?? "" : m.Source,
    Destination: m.Target,
    Driver: m.Type === "volume" ? "local" : undefined,
    Mode: m.ReadOnly ? "ro" : "",
    RW: !m.ReadOnly,
    Propagation: m.Type === "bind" ? m.BindPropagation ?? "rprivate" : "",
  }));
  for (const target of Object.keys(c.Config.Volumes ?? {})) {
    if (c.HostConfig.Mounts.some((m) => m.Target === target)) continue;
    const src = volumePaths.get(target) ?? "";
    mounts.push({
      Type: "volume",
      Name: src.split("/").at(-2),
      Source: src,
      Destination: target,
      Driver: "local",
      Mode: "",
      RW: true,
      Propagation: "",
    });
  }
  const cmd = commandLine(c.Config);
  return {
    Id: c.Id,
    Created: iso(c.Created),
    Path: cmd[0] ?? "",
    Args: cmd.slice(1),
    State: {
      Status: s.Status,
      Running: s.Status === "running" || s.Status === "paused",
      Paused: s.Status === "paused",
      Restarting: s.Status === "restarting",
      OOMKilled: s.OOMKilled,
      Dead: s.Status === "dead",
      Pid: s.Status === "running" || s.Status === "paused" ? s.Pid : 0,
      ExitCode: s.ExitCode,
      Error: s.Error,
      StartedAt: iso(s.StartedAt),
      FinishedAt: iso(s.FinishedAt),
    },
    Image: c.ImageId,
    ResolvConfPath: paths.resolvConf,
    HostnamePath: paths.hostname,
    HostsPath: paths.hosts,
    LogPath: paths.log,
    Name: `/${c.Name}`,
    RestartCount: s.RestartCount,
    Driver: "overlay2",
    Platform: "linux",
    HostConfig: c.HostConfig,
    GraphDriver: {
      Data: {
        LowerDir: c.LowerDirs.join(":"),
        MergedDir: paths.rootfs,
        UpperDir: paths.upper,
        WorkDir: paths.work,
      },
      Name: "overlay2",
    },
    Mounts: mounts,
    Config: c.Config,
    NetworkSettings: { Networks: { [c.HostConfig.NetworkMode]: {} } },
  };
}
