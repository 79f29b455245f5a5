/**
 * Resolving `user[:group]` specs (USER, COPY --chown, WORKDIR ownership) to numeric ids
 * with the image's `/etc/passwd` and `/etc/group`, as BuildKit does for file operations:
 * a name is looked up (its primary group when no group is given), a number is used as is
 * (and as the group too when no group is given). Pure: the files' text is passed in.
 *
 * @module
 */

/** Numeric owner. */
export interface Owner {
  uid: number;
  gid: number;
}

/** The account databases of an image (text of /etc/passwd and /etc/group; "" if absent). */
export interface AccountFiles {
  passwd: string;
  group: string;
}

function lookup(text: string, name: string): string[] | undefined {
  for (const line of text.split("\n")) {
    const fields = line.split(":");
    if (fields[0] === name && fields.length >= 3) return fields;
  }
  return undefined;
}

/**
 * Resolves `spec` (`1000`, `1000:1000`, `app`, `app:staff`, `1000:staff`). Throws
 * `Error` naming the unknown user or group.
 *
 * @example
 * ```ts
 * resolveOwner("app", { passwd: "app:x:1000:1001::/home/app:/bin/sh\n", group: "" }); // { uid: 1000, gid: 1001 }
 * resolveOwner("42", { passwd: "", group: "" }); // { uid: 42, gid: 42 }
 * ```
 */
export function resolveOwner(spec: string, files: AccountFiles): Owner {
  const [user, group] = spec.split(/:(.*)/s, 2);
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(user)) {
    uid = Number(user);
    gid = group === undefined ? uid : undefined;
  } else {
    const pw = lookup(files.passwd, user);
    if (!pw) throw new Error(`unable to find user ${user}: no matching entries in passwd file`);
    uid = Number(pw[2]);
    gid = Number(pw[3]);
  }
  if (group !== undefined && group !== "") {
    if (/^\d+$/.test(group)) gid = Number(group);
    else {
      const gr = lookup(files.group, group);
      if (!gr) throw new Error(`unable to find group ${group}: no matching entries in group file`);
      gid = Number(gr[2]);
    }
  }
  return { uid, gid: gid ?? uid };
}

/** Whether resolving `spec` needs the account files (it names a user or group). */
export function needsAccountFiles(spec: string): boolean {
  return spec.split(":").some((p) => p !== "" && !/^\d+$/.test(p));
}
