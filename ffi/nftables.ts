/**
 * nf_tables over netlink (NETLINK_NETFILTER, subsystem NFNL_SUBSYS_NFTABLES), without the
 * `nft` binary: tables, base chains on hooks, rules built from kernel expressions (meta,
 * cmp, payload, bitwise, fib, nat, masq, immediate verdicts), rule comments, and deletion of
 * rules by handle.
 *
 * Changes go in a {@linkcode NftBatch}: the kernel applies a batch atomically — every message
 * between BATCH_BEGIN and BATCH_END succeeds or none does — which is what lets concurrent
 * `ctr` processes add and remove their rules without seeing each other's half-states.
 *
 * Rule comments use libnftnl's user-data encoding (TLV type 0 = comment), so `nft list
 * ruleset` shows them as `comment "…"`; ctr tags each rule with its owner and finds rules
 * to delete by listing a chain and matching comments.
 *
 * Layouts: include/uapi/linux/netfilter/nf_tables.h and nfnetlink.h.
 *
 * @module
 */
import {
  type Attributes,
  type Message,
  MessageWriter,
  NETLINK,
  NetlinkError,
  NetlinkSocket,
  NLM_F,
  parseAttributes,
} from "./netlink.ts";

/** Netfilter protocol families (table families). */
export const NFPROTO = { INET: 1, IPV4: 2, ARP: 3, NETDEV: 5, BRIDGE: 7, IPV6: 10 } as const;

/** Netfilter hooks of the inet families. */
export const HOOK = { PREROUTING: 0, INPUT: 1, FORWARD: 2, OUTPUT: 3, POSTROUTING: 4 } as const;

/** Verdicts. */
export const VERDICT = {
  DROP: 0,
  ACCEPT: 1,
  CONTINUE: -1,
  BREAK: -2,
  JUMP: -3,
  GOTO: -4,
  RETURN: -5,
} as const;

/** Bits of `ct state` (host order u32). */
export const CT_STATE = { INVALID: 1, ESTABLISHED: 2, RELATED: 4, NEW: 8 } as const;

/** nft_meta keys used by ctr. */
export const META = { NFPROTO: 15, L4PROTO: 16, IIFNAME: 6, OIFNAME: 7, MARK: 3 } as const;

/** cmp operators. */
export const CMP = { EQ: 0, NEQ: 1, LT: 2, LTE: 3, GT: 4, GTE: 5 } as const;

/** payload bases. */
export const PAYLOAD = { LINK: 0, NETWORK: 1, TRANSPORT: 2 } as const;

/** Registers: the verdict register and the 16-byte data registers 1–4. */
export const REG = { VERDICT: 0, R1: 1, R2: 2, R3: 3, R4: 4 } as const;

const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;

const MSG = {
  NEWTABLE: 0,
  GETTABLE: 1,
  DELTABLE: 2,
  NEWCHAIN: 3,
  GETCHAIN: 4,
  DELCHAIN: 5,
  NEWRULE: 6,
  GETRULE: 7,
  DELRULE: 8,
} as const;

const TABLE = { NAME: 1, FLAGS: 2, USE: 3, HANDLE: 4 } as const;
const CHAIN = { TABLE: 1, HANDLE: 2, NAME: 3, HOOK: 4, POLICY: 5, USE: 6, TYPE: 7 } as const;
const HOOK_ATTR = { HOOKNUM: 1, PRIORITY: 2 } as const;
const RULE = { TABLE: 1, CHAIN: 2, HANDLE: 3, EXPRESSIONS: 4, POSITION: 6, USERDATA: 7 } as const;
const LIST_ELEM = 1;
const EXPR = { NAME: 1, DATA: 2 } as const;
const DATA = { VALUE: 1, VERDICT: 2 } as const;
const VERDICT_ATTR = { CODE: 1, CHAIN: 2 } as const;
const UDATA_RULE_COMMENT = 0;
const ENOENT = 2;

function msgType(m: number): number {
  return (NFNL_SUBSYS_NFTABLES << 8) | m;
}

/** The 4-byte nfgenmsg header: family, version 0, resource id (big-endian). */
function nfgenmsg(family: number, resId = 0): Uint8Array {
  return Uint8Array.of(family, 0, (resId >> 8) & 0xff, resId & 0xff);
}

/** One rule expression: its kernel name and a writer for its attributes. */
export interface Expr {
  name: string;
  write(m: MessageWriter): void;
}

const nested = (m: MessageWriter, type: number, fill: () => void) => m.nested(type, fill, true);

/**
 * Expression builders, one per kernel expression ctr uses.
 *
 * @example
 * ```ts
 * // meta l4proto tcp
 * [expr.meta(META.L4PROTO, REG.R1), expr.cmp(REG.R1, CMP.EQ, Uint8Array.of(6))]
 * ```
 */
export const expr = {
  /** Loads a meta key into `dreg`. */
  meta(key: number, dreg: number): Expr {
    return { name: "meta", write: (m) => m.be32(2, key).be32(1, dreg) };
  },
  /** Compares `sreg` with `data`. */
  cmp(sreg: number, op: number, data: Uint8Array): Expr {
    return {
      name: "cmp",
      write: (m) => {
        m.be32(1, sreg).be32(2, op);
        nested(m, 3, () => m.attr(DATA.VALUE, data));
      },
    };
  },
  /** Loads `len` bytes at `offset` of a header into `dreg`. */
  payload(base: number, offset: number, len: number, dreg: number): Expr {
    return { name: "payload", write: (m) => m.be32(1, dreg).be32(2, base).be32(3, offset).be32(4, len) };
  },
  /** `dreg = (sreg & mask) ^ xor`. */
  bitwise(sreg: number, dreg: number, mask: Uint8Array, xor: Uint8Array): Expr {
    return {
      name: "bitwise",
      write: (m) => {
        m.be32(1, sreg).be32(2, dreg).be32(3, mask.length);
        nested(m, 4, () => m.attr(DATA.VALUE, mask));
        nested(m, 5, () => m.attr(DATA.VALUE, xor));
      },
    };
  },
  /** Loads data into a register. */
  immediate(dreg: number, data: Uint8Array): Expr {
    return {
      name: "immediate",
      write: (m) => {
        m.be32(1, dreg);
        nested(m, 2, () => m.attr(DATA.VALUE, data));
      },
    };
  },
  /** A verdict (accept, drop, return, or jump/goto a chain). */
  verdict(code: number, chain?: string): Expr {
    return {
      name: "immediate",
      write: (m) => {
        m.be32(1, REG.VERDICT);
        nested(m, 2, () =>
          nested(m, DATA.VERDICT, () => {
            m.be32(VERDICT_ATTR.CODE, code >>> 0);
            if (chain) m.string(VERDICT_ATTR.CHAIN, chain);
          }));
      },
    };
  },
  /** `fib daddr type` → `dreg` (a host-order u32 route type; 2 = local). */
  fibDaddrType(dreg: number): Expr {
    // NFTA_FIB_DREG=1, RESULT=2 (ADDRTYPE=3), FLAGS=3 (DADDR=2)
    return { name: "fib", write: (m) => m.be32(1, dreg).be32(2, 3).be32(3, 2) };
  },
  /** DNAT/SNAT to the address in `addrReg` (and port in `portReg`). */
  nat(type: "snat" | "dnat", family: number, addrReg: number, portReg?: number): Expr {
    return {
      name: "nat",
      write: (m) => {
        m.be32(1, type === "snat" ? 0 : 1).be32(2, family).be32(3, addrReg);
        if (portReg !== undefined) m.be32(5, portReg);
      },
    };
  },
  /** Masquerade (source NAT to the outgoing interface's address). */
  masquerade(): Expr {
    return { name: "masq", write: () => {} };
  },
  /** `ct state` → `dreg` as a host-order u32 bit set (invalid 1, established 2, related 4, new 8). */
  ctState(dreg: number): Expr {
    // NFTA_CT_DREG=1, NFTA_CT_KEY=2 (NFT_CT_STATE=0)
    return { name: "ct", write: (m) => m.be32(1, dreg).be32(2, 0) };
  },
  /** Counts packets and bytes (shown by `nft list`). */
  counter(): Expr {
    return { name: "counter", write: (m) => m.be64(1, 0n).be64(2, 0n) };
  },
};

/** A table as listed. */
export interface NftTable {
  family: number;
  name: string;
  handle: bigint;
}

/** A chain as listed. */
export interface NftChain {
  family: number;
  table: string;
  name: string;
  handle: bigint;
  hook?: number;
  priority?: number;
  type?: string;
}

/** A rule as listed: its handle and comment (the expressions are not decoded). */
export interface NftRule {
  family: number;
  table: string;
  chain: string;
  handle: bigint;
  comment?: string;
}

/** Options of a base chain. */
export interface BaseChain {
  /** `filter`, `nat` or `route`. */
  type: "filter" | "nat" | "route";
  hook: number;
  priority: number;
  /** Default verdict (accept unless given). */
  policy?: "accept" | "drop";
}

/**
 * Encodes a rule comment the way libnftnl does.
 *
 * @example
 * ```ts
 * decodeRuleComment(encodeRuleComment("ctr:abc")); // "ctr:abc"
 * ```
 */
export function encodeRuleComment(comment: string): Uint8Array {
  const b = new TextEncoder().encode(comment);
  if (b.length + 1 > 255) throw new RangeError(`Rule comment too long: ${comment}`);
  const out = new Uint8Array(b.length + 3);
  out[0] = UDATA_RULE_COMMENT;
  out[1] = b.length + 1;
  out.set(b, 2);
  return out;
}

/**
 * The comment in a rule's user data, if any.
 *
 * @example
 * ```ts
 * decodeRuleComment(Uint8Array.of(0, 2, 120, 0)); // "x"
 * ```
 */
export function decodeRuleComment(udata: Uint8Array): string | undefined {
  for (let i = 0; i + 2 <= udata.length;) {
    const type = udata[i], len = udata[i + 1];
    if (i + 2 + len > udata.length) return undefined;
    if (type === UDATA_RULE_COMMENT) {
      const v = udata.subarray(i + 2, i + 2 + len);
      const end = v.indexOf(0);
      return new TextDecoder().decode(end === -1 ? v : v.subarray(0, end));
    }
    i += 2 + len;
  }
  return undefined;
}

/**
 * A batch of nf_tables changes, applied atomically by {@linkcode NftBatch.commit}.
 *
 * @example
 * ```ts
 * using nft = Nftables.open();
 * const b = nft.batch();
 * b.addTable(NFPROTO.IPV4, "ctr_test");
 * b.addChain(NFPROTO.IPV4, "ctr_test", "post", { type: "nat", hook: HOOK.POSTROUTING, priority: 100 });
 * b.addRule(NFPROTO.IPV4, "ctr_test", "post", [expr.masquerade()], { comment: "ctr:net1" });
 * b.commit();
 * ```
 */
export class NftBatch {
  readonly #nl: NetlinkSocket;
  readonly #messages: { writer: MessageWriter; what: { op: string; subject?: string } }[] = [];

  /** @internal */
  constructor(nl: NetlinkSocket) {
    this.#nl = nl;
  }

  /** How many changes are queued. */
  get size(): number {
    return this.#messages.length;
  }

  #add(type: number, family: number, flags: number, what: { op: string; subject?: string }): MessageWriter {
    const w = new MessageWriter(msgType(type), NLM_F.REQUEST | NLM_F.ACK | flags).bytes(nfgenmsg(family));
    this.#messages.push({ writer: w, what });
    return w;
  }

  /** Adds a table (no error when it exists). */
  addTable(family: number, name: string): this {
    this.#add(MSG.NEWTABLE, family, NLM_F.CREATE, { op: "add nft table", subject: name }).string(
      TABLE.NAME,
      name,
    );
    return this;
  }

  /** Deletes a table with everything in it. */
  deleteTable(family: number, name: string): this {
    this.#add(MSG.DELTABLE, family, 0, { op: "delete nft table", subject: name }).string(TABLE.NAME, name);
    return this;
  }

  /** Adds a chain (no error when it exists); `base` makes it a base chain on a hook. */
  addChain(family: number, table: string, name: string, base?: BaseChain): this {
    const m = this.#add(MSG.NEWCHAIN, family, NLM_F.CREATE, {
      op: "add nft chain",
      subject: `${table}/${name}`,
    });
    m.string(CHAIN.TABLE, table).string(CHAIN.NAME, name);
    if (base) {
      nested(m, CHAIN.HOOK, () => {
        m.be32(HOOK_ATTR.HOOKNUM, base.hook);
        m.be32(HOOK_ATTR.PRIORITY, base.priority);
      });
      m.be32(CHAIN.POLICY, base.policy === "drop" ? VERDICT.DROP : VERDICT.ACCEPT);
      m.string(CHAIN.TYPE, base.type);
    }
    return this;
  }

  /** Deletes an (empty) chain. */
  deleteChain(family: number, table: string, name: string): this {
    const m = this.#add(MSG.DELCHAIN, family, 0, { op: "delete nft chain", subject: `${table}/${name}` });
    m.string(CHAIN.TABLE, table).string(CHAIN.NAME, name);
    return this;
  }

  /** Appends a rule to a chain. */
  addRule(
    family: number,
    table: string,
    chain: string,
    exprs: Expr[],
    options: { comment?: string } = {},
  ): this {
    const m = this.#add(MSG.NEWRULE, family, NLM_F.CREATE | NLM_F.APPEND, {
      op: `add nft rule${options.comment ? ` "${options.comment}"` : ""} to`,
      subject: `${table}/${chain}`,
    });
    m.string(RULE.TABLE, table).string(RULE.CHAIN, chain);
    nested(m, RULE.EXPRESSIONS, () => {
      for (const e of exprs) {
        nested(m, LIST_ELEM, () => {
          m.string(EXPR.NAME, e.name);
          nested(m, EXPR.DATA, () => e.write(m));
        });
      }
    });
    if (options.comment) m.attr(RULE.USERDATA, encodeRuleComment(options.comment));
    return this;
  }

  /** Deletes a rule by handle. */
  deleteRule(family: number, table: string, chain: string, handle: bigint): this {
    const m = this.#add(MSG.DELRULE, family, 0, {
      op: `delete nft rule ${handle} from`,
      subject: `${table}/${chain}`,
    });
    m.string(RULE.TABLE, table).string(RULE.CHAIN, chain).be64(RULE.HANDLE, handle);
    return this;
  }

  /** Sends the batch; all changes apply or none, and the first failure is thrown. */
  commit(): void {
    if (this.#messages.length === 0) return;
    const parts: Uint8Array[] = [];
    const acks: { seq: number; what: { op: string; subject?: string } }[] = [];
    const begin = new MessageWriter(NFNL_MSG_BATCH_BEGIN, NLM_F.REQUEST)
      .bytes(nfgenmsg(0, NFNL_SUBSYS_NFTABLES));
    parts.push(begin.finish(this.#nl.nextSeq()));
    for (const { writer, what } of this.#messages) {
      const seq = this.#nl.nextSeq();
      parts.push(writer.finish(seq));
      acks.push({ seq, what });
    }
    const end = new MessageWriter(NFNL_MSG_BATCH_END, NLM_F.REQUEST).bytes(nfgenmsg(0, NFNL_SUBSYS_NFTABLES));
    parts.push(end.finish(this.#nl.nextSeq()));
    const total = parts.reduce((n, p) => n + p.length, 0);
    const data = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      data.set(p, off);
      off += p.length;
    }
    this.#messages.length = 0;
    this.#nl.transact(data, acks);
  }
}

function handleOf(a: Attributes, type: number): bigint {
  return a.be64(type) ?? 0n;
}

/**
 * An nf_tables netlink socket.
 *
 * @example
 * ```ts
 * using nft = Nftables.open();
 * nft.listTables().map((t) => t.name);
 * ```
 */
export class Nftables {
  readonly #nl: NetlinkSocket;

  private constructor(nl: NetlinkSocket) {
    this.#nl = nl;
  }

  /** Opens nf_tables in this thread's namespace or in `netns` (path or fd). */
  static open(options: { netns?: string | number } = {}): Nftables {
    return new Nftables(NetlinkSocket.open(NETLINK.NETFILTER, options));
  }

  /** Whether nf_tables answers here (the kernel has it and we may use it). */
  static available(options: { netns?: string | number } = {}): boolean {
    try {
      using nft = Nftables.open(options);
      nft.listTables();
      return true;
    } catch {
      return false;
    }
  }

  /** A new batch on this socket. */
  batch(): NftBatch {
    return new NftBatch(this.#nl);
  }

  #dump(
    type: number,
    family: number,
    what: { op: string; subject?: string },
    fill?: (m: MessageWriter) => void,
  ) {
    const m = new MessageWriter(msgType(type), NLM_F.REQUEST | NLM_F.DUMP).bytes(nfgenmsg(family));
    fill?.(m);
    return this.#nl.dump(m, what);
  }

  /** Tables of a family (0 = all). */
  listTables(family = 0): NftTable[] {
    return this.#dump(MSG.GETTABLE, family, { op: "list nft tables" }).map((x: Message) => {
      const a = parseAttributes(x.payload.subarray(4));
      return { family: x.payload[0], name: a.string(TABLE.NAME) ?? "", handle: handleOf(a, TABLE.HANDLE) };
    });
  }

  /** Whether the table exists. */
  hasTable(family: number, name: string): boolean {
    return this.listTables(family).some((t) => t.name === name);
  }

  /** Chains of a table. */
  listChains(family: number, table: string): NftChain[] {
    return this.#dump(MSG.GETCHAIN, family, { op: "list nft chains", subject: table }, (m) => {
      m.string(CHAIN.TABLE, table);
    }).map((x: Message) => {
      const a = parseAttributes(x.payload.subarray(4));
      const hook = a.nested(CHAIN.HOOK);
      const prio = hook?.be32(HOOK_ATTR.PRIORITY);
      return {
        family: x.payload[0],
        table: a.string(CHAIN.TABLE) ?? "",
        name: a.string(CHAIN.NAME) ?? "",
        handle: handleOf(a, CHAIN.HANDLE),
        hook: hook?.be32(HOOK_ATTR.HOOKNUM),
        priority: prio === undefined ? undefined : prio | 0,
        type: a.string(CHAIN.TYPE),
      };
    }).filter((c) => c.table === table);
  }

  /** Rules of a table (optionally one chain of it); a missing table lists nothing. */
  listRules(family: number, table: string, chain?: string): NftRule[] {
    let msgs: Message[];
    try {
      msgs = this.#dump(MSG.GETRULE, family, { op: "list nft rules", subject: table }, (m) => {
        m.string(RULE.TABLE, table);
        if (chain) m.string(RULE.CHAIN, chain);
      });
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === ENOENT) return [];
      throw e;
    }
    return msgs.map((x) => {
      const a = parseAttributes(x.payload.subarray(4));
      const udata = a.get(RULE.USERDATA);
      return {
        family: x.payload[0],
        table: a.string(RULE.TABLE) ?? "",
        chain: a.string(RULE.CHAIN) ?? "",
        handle: handleOf(a, RULE.HANDLE),
        comment: udata ? decodeRuleComment(udata) : undefined,
      };
    }).filter((r) => r.table === table && (!chain || r.chain === chain));
  }

  /** Closes the socket. */
  close(): void {
    this.#nl.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
