/**
 * `--security-opt` values as Docker accepts them, turned into what the container init applies:
 *
 * | value | effect |
 * | --- | --- |
 * | `seccomp=unconfined` | no seccomp filter |
 * | `seccomp=PATH` | the profile in PATH (Docker's JSON format; read here, like Docker's client) |
 * | `no-new-privileges`, `no-new-privileges=true\|false` | no_new_privs (ctr's default: on) |
 * | `systempaths=unconfined` | no masked or read-only paths |
 * | `apparmor=unconfined`, `label=disable`, `label:disable` | accepted: ctr applies no LSM profile anyway |
 *
 * The old `key:value` spelling is accepted too. `--privileged` turns seccomp off unless a
 * profile is named explicitly, as Docker does.
 *
 * @module
 */
import { DEFAULT_SECCOMP_PROFILE } from "../../ffi/seccomp/default_profile.ts";
import { parseSeccompProfile, type SeccompProfile } from "../../ffi/seccomp/profile.ts";

/** What the options mean for the container. */
export interface SecurityOptions {
  /** The profile to resolve and install, or null for none (unconfined). */
  seccomp: SeccompProfile | null;
  /** Where the profile came from: `default`, `unconfined` or the file path. */
  seccompSource: string;
  /** Set no_new_privs before execve. */
  noNewPrivileges: boolean;
  /** Apply the masked and read-only paths. */
  maskPaths: boolean;
}

/**
 * Parses `--security-opt` values. Throws a `TypeError` naming a value ctr does not accept, and
 * a `SyntaxError` naming the file and field for a bad seccomp profile.
 *
 * @example
 * ```ts
 * parseSecurityOpts(["seccomp=unconfined", "no-new-privileges=false"]);
 * ```
 */
export function parseSecurityOpts(
  values: readonly string[],
  options: { privileged?: boolean; readFile?: (path: string) => string } = {},
): SecurityOptions {
  const readFile = options.readFile ?? ((p: string) => Deno.readTextFileSync(p));
  const out: SecurityOptions = {
    seccomp: options.privileged ? null : DEFAULT_SECCOMP_PROFILE,
    seccompSource: options.privileged ? "unconfined" : "default",
    noNewPrivileges: true,
    maskPaths: !options.privileged,
  };
  for (const raw of values) {
    const m = /^([a-z-]+)(?:[=:](.*))?$/s.exec(raw.trim());
    if (!m) throw new TypeError(`Invalid --security-opt: ${JSON.stringify(raw)}`);
    const [, key, value] = m;
    switch (key) {
      case "seccomp": {
        if (value === undefined || value === "") {
          throw new TypeError(`Invalid --security-opt: ${JSON.stringify(raw)}`);
        }
        if (value === "unconfined") {
          out.seccomp = null;
          out.seccompSource = "unconfined";
        } else if (value === "builtin" || value === "default") {
          out.seccomp = DEFAULT_SECCOMP_PROFILE;
          out.seccompSource = "default";
        } else {
          let text: string;
          try {
            text = readFile(value);
          } catch (e) {
            const code = (e as { code?: string }).code ?? (e as Error).message;
            throw new TypeError(`Cannot read seccomp profile ${JSON.stringify(value)}: ${code}`);
          }
          out.seccomp = parseSeccompProfile(text, JSON.stringify(value));
          out.seccompSource = value;
        }
        break;
      }
      case "no-new-privileges":
        if (value === undefined || value === "" || value === "true") out.noNewPrivileges = true;
        else if (value === "false") out.noNewPrivileges = false;
        else {throw new TypeError(
            `Invalid --security-opt: ${JSON.stringify(raw)}: no-new-privileges takes true or false`,
          );}
        break;
      case "systempaths":
        if (value !== "unconfined") {
          throw new TypeError(`Invalid --security-opt: ${JSON.stringify(raw)}: systempaths takes unconfined`);
        }
        out.maskPaths = false;
        break;
      case "apparmor":
        if (value !== "unconfined") {
          throw new TypeError(
            `Invalid --security-opt: ${JSON.stringify(raw)}: ctr applies no AppArmor profiles`,
          );
        }
        break;
      case "label":
        if (value !== "disable") {
          throw new TypeError(
            `Invalid --security-opt: ${JSON.stringify(raw)}: ctr applies no SELinux labels`,
          );
        }
        break;
      default:
        throw new TypeError(`Invalid --security-opt: ${JSON.stringify(raw)}`);
    }
  }
  return out;
}
