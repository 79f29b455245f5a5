/**
 * Resolving `--user` / the image's `User` and the command against the container's own files:
 * `/etc/passwd`, `/etc/group` and `$PATH`. Pure functions over file contents so the rules
 * (Docker's) are tested without a container.
 *
 * @module
 */
import { cleanPath } from "./secure_join.ts";

/** A resolved user. */
export interface ExecUser {
  uid: number;
  gid: number;
  /** Supplementary groups: the primary group, those listing the user in /etc/group, then `--group-add`. */
  additionalGids: number[];
  /** Home directory from /etc/passwd ("/" when unknown). */
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 4) continue;
    const uid = Number(f[2]), gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0], uid, gid, home: f[5] || "/" });
  }
  return out;
}

function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 3) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ name: f[0], gid, members: (f[3] ?? "").split(",").filter((m) => m) });
  }
  return out;
}

const isNumeric = (s: string) => /^\d+$/.test(s);

/**
 * Resolves `user` (`""`, `name`, `uid`, `name:group`, `uid:gid`, …) as Docker does: a name
 * must exist in passwd; a number need not (gid then defaults to 0); a group name must exist.
 *
 * @example
 * ```ts
 * resolveUser("app", "app:x:1000:1000::/home/app:/bin/sh\n", "", []);
 * // { uid: 1000, gid: 1000, additionalGids: [1000], home: "/home/app" }
 * ```
 */
export function resolveUser(
  user: string,
  passwdText: string | null,
  groupText: string | null,
  groupAdd: string[],
): ExecUser {
  const passwd = parsePasswd(passwdText ?? "");
  const groups = parseGroup(groupText ?? "");
  const [userPart, groupPart] = user.includes(":")
    ? [user.slice(0, user.indexOf(":")), user.slice(user.indexOf(":") + 1)]
    : [user, undefined];
  let uid = 0, gid = 0, home = "/", name = "root";
  const byName = passwd.find((p) => p.name === (userPart || "root"));
  if (userPart === "" || !isNumeric(userPart)) {
    if (!byName) {
      if (userPart !== "") {
        throw new Error(`Unable to find user ${userPart}: no matching entries in passwd file`);
      }
    } else {
      ({ uid, gid, home, name } = byName);
    }
  } else {
    uid = Number(userPart);
    const entry = passwd.find((p) => p.uid === uid);
    if (entry) ({ gid, home, name } = entry);
    else name = "";
  }
  if (groupPart !== undefined && groupPart !== "") {
    if (isNumeric(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw new Error(`Unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  }
  // Docker's processes always carry their primary group among the supplementary ones.
  const additional: number[] = [gid];
  if (name && groupPart === undefined) {
    for (const g of groups) {
      if (g.members.includes(name) && !additional.includes(g.gid)) additional.push(g.gid);
    }
  }
  for (const a of groupAdd) {
    let g: number;
    if (isNumeric(a)) g = Number(a);
    else {
      const found = groups.find((x) => x.name === a);
      if (!found) throw new Error(`Unable to find group ${a}: no matching entries in group file`);
      g = found.gid;
    }
    if (!additional.includes(g)) additional.push(g);
  }
  return { uid, gid, additionalGids: additional, home };
}

/** How {@linkcode findExecutable} looks at a candidate path. */
export type PathKind = "missing" | "directory" | "executable" | "not-executable";

/** The failure of a command lookup, with Docker's exit code (126 or 127) and wording. */
export class CommandLookupError extends Error {
  override name = "CommandLookupError";
  /** 126: found but cannot be executed; 127: not found. */
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Finds the file `command` names: a path when it contains a slash, else the first executable
 * match in `PATH` (Docker's default when unset). Throws {@linkcode CommandLookupError}.
 *
 * @example
 * ```ts
 * findExecutable("sh", "/usr/bin:/bin", (p) => p === "/bin/sh" ? "executable" : "missing"); // "/bin/sh"
 * ```
 */
export function findExecutable(
  command: string,
  pathEnv: string | undefined,
  kind: (path: string) => PathKind,
  cwd = "/",
): string {
  if (command === "") throw new CommandLookupError(127, 'exec: "": executable file not found in $PATH');
  if (command.includes("/")) {
    const full = cleanPath(command.startsWith("/") ? command : `${cwd}/${command}`);
    const k = kind(full);
    if (k === "missing") {
      throw new CommandLookupError(127, `exec: "${command}": stat ${command}: no such file or directory`);
    }
    if (k === "directory") throw new CommandLookupError(126, `exec: "${command}": is a directory`);
    if (k === "not-executable") throw new CommandLookupError(126, `exec: "${command}": permission denied`);
    return command;
  }
  const dirs = (pathEnv ?? DEFAULT_PATH).split(":");
  let sawNonExecutable = false;
  for (const d of dirs) {
    const candidate = `${d === "" ? "." : d.replace(/\/$/, "")}/${command}`;
    const k = kind(cleanPath(candidate.startsWith("/") ? candidate : `${cwd}/${candidate}`));
    if (k === "executable") return candidate;
    if (k === "not-executable") sawNonExecutable = true;
  }
  if (sawNonExecutable) throw new CommandLookupError(126, `exec: "${command}": permission denied`);
  throw new CommandLookupError(127, `exec: "${command}": executable file not found in $PATH`);
}

/** Docker's PATH when neither the image nor the user sets one. */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
