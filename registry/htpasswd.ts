/**
 * htpasswd files with bcrypt hashes (`user:$2y$…`, as `htpasswd -B` writes them), the
 * format distribution accepts. Verification results are cached briefly, because bcrypt is
 * deliberately slow and clients send Basic credentials with every request.
 *
 * @module
 */
import bcrypt from "bcryptjs";
import { createHash } from "node:crypto";

/** How long a successful check is remembered. */
const CACHE_MS = 5 * 60_000;

/**
 * Parses htpasswd text into user → bcrypt hash. Throws `SyntaxError` naming the line of a
 * malformed entry or one that is not bcrypt.
 *
 * @example
 * ```ts
 * parseHtpasswd("alice:$2y$05$…\n"); // Map { "alice" => "$2y$05$…" }
 * ```
 */
export function parseHtpasswd(text: string, file = "htpasswd"): Map<string, string> {
  const users = new Map<string, string>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new SyntaxError(`${file}:${i + 1}: expected user:hash`);
    const user = line.slice(0, colon), hash = line.slice(colon + 1);
    if (!/^\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
      throw new SyntaxError(
        `${file}:${i + 1}: the hash of "${user}" is not bcrypt (create it with htpasswd -B)`,
      );
    }
    users.set(user, hash);
  });
  return users;
}

/**
 * Checks user/password pairs against parsed htpasswd entries.
 *
 * @example
 * ```ts
 * const checker = new HtpasswdChecker(parseHtpasswd(text));
 * await checker.verify("alice", "secret"); // true or false
 * ```
 */
export class HtpasswdChecker {
  readonly #users: Map<string, string>;
  readonly #ok = new Map<string, number>();

  constructor(users: Map<string, string>) {
    this.#users = users;
  }

  /** Whether `password` is `user`'s. */
  async verify(user: string, password: string): Promise<boolean> {
    const hash = this.#users.get(user);
    if (!hash) return false;
    const key = createHash("sha256").update(`${user}\0${password}\0${hash}`).digest("hex");
    const until = this.#ok.get(key);
    if (until !== undefined && until > Date.now()) return true;
    // bcryptjs knows $2a$/$2b$; $2y$ (PHP/Apache) is the same algorithm.
    const ok = await bcrypt.compare(password, hash.replace(/^\$2[xy]\$/, "$2b$"));
    if (ok) {
      if (this.#ok.size > 10_000) this.#ok.clear();
      this.#ok.set(key, Date.now() + CACHE_MS);
    }
    return ok;
  }
}
