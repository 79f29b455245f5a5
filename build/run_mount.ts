/**
 * `RUN --mount=…` values (after variable expansion): `type=bind|cache|tmpfs|secret`, with
 * BuildKit's keys, defaults and messages. Pure: no I/O.
 *
 * @module
 */

/** A parsed RUN mount. */
export interface RunMount {
  type: "bind" | "cache" | "tmpfs" | "secret";
  /** Target path in the container ("" for an env-only secret); relative to WORKDIR if not absolute. */
  target: string;
  /** Path in the source (context, stage or image) for bind/cache. */
  source?: string;
  /** Stage name/index or image for bind/cache mounts. */
  from?: string;
  readonly: boolean;
  /** Cache id (default: the target) or secret id (default: the target's base name). */
  id?: string;
  /** Cache sharing mode. */
  sharing?: "shared" | "private" | "locked";
  mode?: number;
  uid?: number;
  gid?: number;
  /** Secret must exist. */
  required?: boolean;
  /** tmpfs size in bytes. */
  size?: number;
  /** Secret exposed as this environment variable (instead of or besides a file). */
  env?: string;
}

function parseBool(key: string, v: string | undefined): boolean {
  if (v === undefined || v === "") return true;
  const l = v.toLowerCase();
  if (l === "true" || l === "1") return true;
  if (l === "false" || l === "0") return false;
  throw new Error(`invalid value for ${key}: ${v}`);
}

function splitCsv(value: string): string[] {
  // CSV as Go's encoding/csv reads one record: fields may be double-quoted.
  const fields: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === '"' && value[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur.endsWith("=")) quoted = true;
    else if (c === '"' && cur === "") quoted = true;
    else if (c === ",") {
      fields.push(cur);
      cur = "";
    } else cur += c;
  }
  if (quoted) throw new Error(`invalid mount ${JSON.stringify(value)}: unterminated quote`);
  fields.push(cur);
  return fields;
}

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) throw new Error(`invalid size: ${s}`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase()]!;
  return Math.round(Number(m[1]) * mult);
}

/**
 * Parses one `--mount` value.
 *
 * @example
 * ```ts
 * parseRunMount("type=cache,target=/root/.cache,sharing=locked");
 * // { type: "cache", target: "/root/.cache", readonly: false, id: "/root/.cache", sharing: "locked" }
 * ```
 */
export function parseRunMount(value: string): RunMount {
  const fields = splitCsv(value);
  const m: Partial<RunMount> & { type: RunMount["type"] } = { type: "bind" };
  let roSet: boolean | undefined;
  // `type` may come anywhere; read it first because defaults depend on it.
  for (const f of fields) {
    const [k, v] = f.split(/=(.*)/s, 2);
    if (k.trim().toLowerCase() === "type") {
      const t = (v ?? "").trim().toLowerCase();
      if (t !== "bind" && t !== "cache" && t !== "tmpfs" && t !== "secret") {
        throw new Error(`unsupported mount type ${JSON.stringify(v)}`);
      }
      m.type = t;
    }
  }
  for (const f of fields) {
    if (f.trim() === "") continue;
    const eq = f.indexOf("=");
    const key = (eq < 0 ? f : f.slice(0, eq)).trim().toLowerCase();
    const val = eq < 0 ? undefined : f.slice(eq + 1);
    switch (key) {
      case "type":
        break;
      case "target":
      case "dst":
      case "destination":
        m.target = val ?? "";
        break;
      case "source":
      case "src":
        m.source = val ?? "";
        break;
      case "from":
        m.from = val ?? "";
        break;
      case "readonly":
      case "ro":
        roSet = parseBool(key, val);
        break;
      case "readwrite":
      case "rw":
        roSet = !parseBool(key, val);
        break;
      case "id":
        m.id = val ?? "";
        break;
      case "sharing": {
        const s = (val ?? "").toLowerCase();
        if (s !== "shared" && s !== "private" && s !== "locked") {
          throw new Error(`unsupported sharing value ${JSON.stringify(val)}`);
        }
        m.sharing = s;
        break;
      }
      case "mode": {
        if (!/^[0-7]+$/.test(val ?? "")) throw new Error(`invalid value ${val} for mode`);
        m.mode = parseInt(val!, 8);
        break;
      }
      case "uid":
      case "gid": {
        if (!/^\d+$/.test(val ?? "")) throw new Error(`invalid value ${val} for ${key}`);
        m[key] = Number(val);
        break;
      }
      case "required":
        m.required = parseBool(key, val);
        break;
      case "size":
        m.size = parseSize(val ?? "");
        break;
      case "env":
        m.env = val ?? "";
        break;
      default:
        throw new Error(`unexpected key '${key}' in '${f}'`);
    }
  }
  if (m.type === "secret") {
    if (!m.target && !m.id && !m.env) {
      throw new Error("one of target, id or env is required for a secret mount");
    }
    if (!m.id && m.target) m.id = m.target.slice(m.target.lastIndexOf("/") + 1);
    if (!m.target && !m.env) m.target = `/run/secrets/${m.id}`;
    m.target ??= ""; // an env-only secret has no file
    m.readonly = true;
  } else {
    if (!m.target) throw new Error(`mount type=${m.type} requires a target`);
    m.readonly = roSet ?? m.type === "bind";
  }
  if (m.type === "cache") {
    m.id ??= m.target;
    m.sharing ??= "shared";
  }
  if (m.type === "tmpfs" && (m.from || m.source)) throw new Error("tmpfs mounts take no source");
  return m as RunMount;
}
