/**
 * The network provider of `ctr inspect` (see `inspect.ts`).
 *
 * @module
 */
import { openDatabase } from "../image/db.ts";
import { inspectNetwork } from "../runtime/network/manage.ts";
import { NetworkService } from "../runtime/network/service.ts";
import { networkSchema } from "../runtime/network/store.ts";

/**
 * The Docker-shaped document of network `name`, or undefined when there is none.
 *
 * @example
 * ```ts
 * await lookup("/var/lib/ctr", "bridge", { size: false });
 * ```
 */
export function lookup(root: string, name: string, _options: { size: boolean }): Promise<unknown> {
  const db = openDatabase(`${root}/ctr.db`, [networkSchema]);
  const svc = new NetworkService({ root, db, config: { nftables: false } });
  try {
    svc.ensureBuiltins();
    const n = svc.store.getNetwork(name);
    return Promise.resolve(n ? inspectNetwork(svc, n) : undefined);
  } finally {
    db.close();
  }
}
