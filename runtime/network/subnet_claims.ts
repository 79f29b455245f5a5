/**
 * Host-wide claims on subnets, shared by every ctr state root on the machine, so that two
 * roots never give overlapping subnets to their networks (their bridges would fight over
 * routes and addresses). Each root's database only knows its own networks; the claims live
 * beside them, outside any root:
 *
 * ```text
 * /run/ctr/subnets/
 * ├── .lock                 flock(2) held while checking and claiming
 * └── 10.88.0.0_16          {"root": "/var/lib/ctr", "network": "<id>"}
 * ```
 *
 * A claim whose root no longer has a database (a deleted test root, say) is stale and is
 * dropped when next seen. `/run` is a tmpfs: after a reboot claims are made again as
 * networks are created or brought up.
 *
 * @module
 */
import { cidrsOverlap, parseCidr } from "../../ffi/inet.ts";

/** Where claims live. */
export const DEFAULT_CLAIMS_DIR = "/run/ctr/subnets";

/** One claim. */
export interface SubnetClaim {
  subnet: string;
  root: string;
  network: string;
}

function fileName(subnet: string): string {
  return subnet.replace("/", "_").replaceAll(":", "-");
}

/**
 * The claims directory.
 *
 * @example
 * ```ts
 * const claims = new SubnetClaims();
 * claims.withLock(() => claims.claim("10.88.0.0/16", root, id));
 * ```
 */
export class SubnetClaims {
  readonly dir: string;

  constructor(dir = DEFAULT_CLAIMS_DIR) {
    this.dir = dir;
  }

  /** Runs `fn` holding the host-wide lock (blocking until other roots release it). */
  withLock<T>(fn: () => T): T {
    Deno.mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const lock = Deno.openSync(`${this.dir}/.lock`, { create: true, write: true });
    try {
      lock.lockSync(true);
      return fn();
    } finally {
      lock.close(); // closing drops the flock
    }
  }

  /** Every live claim (stale ones are removed on the way). */
  list(): SubnetClaim[] {
    const out: SubnetClaim[] = [];
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(this.dir)];
    } catch {
      return [];
    }
    for (const e of entries) {
      if (!e.isFile || e.name.startsWith(".")) continue;
      const path = `${this.dir}/${e.name}`;
      let claim: SubnetClaim;
      try {
        claim = JSON.parse(Deno.readTextFileSync(path));
      } catch {
        continue; // being written, or foreign
      }
      if (!isLive(claim.root)) {
        try {
          Deno.removeSync(path);
        } catch { /* another root removed it */ }
        continue;
      }
      out.push(claim);
    }
    return out;
  }

  /** Subnets claimed by roots other than `root`. */
  othersOf(root: string): string[] {
    return this.list().filter((c) => c.root !== root).map((c) => c.subnet);
  }

  /**
   * Claims `subnet` for a network of `root`; throws a RangeError naming the other root when
   * it overlaps one of theirs. Claiming again for the same root is fine.
   */
  claim(subnet: string, root: string, network: string): void {
    const mine = parseCidr(subnet);
    for (const c of this.list()) {
      if (c.root === root) continue;
      if (cidrsOverlap(parseCidr(c.subnet), mine)) {
        throw new RangeError(
          `Subnet ${subnet} overlaps ${c.subnet} of another ctr state root (${c.root}); choose another subnet`,
        );
      }
    }
    const tmp = `${this.dir}/.${fileName(subnet)}.${crypto.randomUUID()}`;
    Deno.writeTextFileSync(tmp, JSON.stringify({ subnet, root, network }));
    Deno.renameSync(tmp, `${this.dir}/${fileName(subnet)}`);
  }

  /** Drops `root`'s claim on `subnet`. */
  release(subnet: string, root: string): void {
    const path = `${this.dir}/${fileName(subnet)}`;
    try {
      const c = JSON.parse(Deno.readTextFileSync(path)) as SubnetClaim;
      if (c.root === root) Deno.removeSync(path);
    } catch { /* none */ }
  }
}

function isLive(root: string): boolean {
  try {
    Deno.statSync(`${root}/ctr.db`);
    return true;
  } catch {
    return false;
  }
}
