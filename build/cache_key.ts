/**
 * Build-cache keys. Each step's key hashes its parent's key with what the step does:
 *
 * - every step: its `created_by` text, which holds the instruction with variables
 *   expanded (so a changed ARG or ENV value changes the key of every later step);
 * - RUN: argv, environment (proxy variables excluded), user, workdir, network, mounts,
 *   inline files, and the content digest of bind-mounted sources;
 * - COPY/ADD: destination, workdir, ownership and mode options, and the content digest
 *   of the sources (paths, types, modes, owners, link targets and bytes);
 * - WORKDIR: path and user.
 *
 * So a step is reused exactly when its parent, its expanded text and its inputs are the
 * same; changing one copied file changes that COPY's key and every key after it, and no
 * key before. Pure: no I/O.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { PROXY_ARGS } from "./build_args.ts";
import type { CopyItem } from "./copy_plan.ts";
import type { Step } from "./stage_state.ts";

/** JSON with object keys sorted, so equal values always serialise equally. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return "[" + v.map(canonicalJson).join(",") + "]";
  const o = v as Record<string, unknown>;
  return "{" +
    Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) =>
      JSON.stringify(k) + ":" + canonicalJson(o[k])
    )
      .join(",") +
    "}";
}

function sha256(s: string): string {
  return "sha256:" + createHash("sha256").update(s).digest("hex");
}

/**
 * Key of a stage's starting point: the base image (by config digest) or `scratch`, and
 * the platform.
 *
 * @example
 * ```ts
 * baseCacheKey("scratch", "linux/amd64");
 * ```
 */
export function baseCacheKey(base: string, platform: string): string {
  return sha256(canonicalJson({ v: 1, base, platform }));
}

/** Inputs of a step that are not part of the step itself. */
export interface StepInputs {
  /** COPY/ADD: {@linkcode contentDigest} of the planned items. */
  content?: string;
  /** RUN: content digests of bind mounts, by target. */
  mounts?: Record<string, string>;
}

/**
 * The cache key of `step` on top of `parent`.
 *
 * @example
 * ```ts
 * const key = stepCacheKey(parentKey, step, { content: "sha256:…" });
 * ```
 */
export function stepCacheKey(parent: string, step: Step, inputs: StepInputs = {}): string {
  const common = { v: 1, parent, kind: step.kind, createdBy: step.createdBy };
  switch (step.kind) {
    case "meta":
      return sha256(canonicalJson(common));
    case "workdir":
      return sha256(canonicalJson({ ...common, path: step.path, user: step.user }));
    case "run":
      return sha256(canonicalJson({
        ...common,
        argv: step.argv,
        env: step.env.filter((e) => !PROXY_ARGS.includes(e.slice(0, e.indexOf("=")))),
        user: step.user,
        workdir: step.workdir,
        network: step.network,
        mounts: step.mounts,
        files: step.files,
        mountContent: inputs.mounts ?? {},
      }));
    case "copy":
      return sha256(canonicalJson({
        ...common,
        add: step.add,
        dest: step.dest,
        workdir: step.workdir,
        chown: step.chown,
        chmod: step.chmod,
        checksum: step.checksum,
        unpack: step.unpack,
        exclude: step.exclude,
        content: inputs.content ?? "",
      }));
  }
}

/**
 * Digest of what a COPY writes: for each item its destination, type, mode, owner, link
 * target and the digest of its bytes (from `fileDigest`, for regular files).
 *
 * @example
 * ```ts
 * contentDigest(items, (item) => digests.get(item.from)!);
 * ```
 */
export function contentDigest(
  items: readonly CopyItem[],
  fileDigest: (item: CopyItem) => string,
  owner?: { uid: number; gid: number },
  mode?: (item: CopyItem) => number,
): string {
  const h = createHash("sha256");
  for (const item of items) {
    const e = item.entry;
    const uid = owner?.uid ?? e.uid;
    const gid = owner?.gid ?? e.gid;
    const m = mode ? mode(item) : e.mode;
    const data = e.type === "file" ? fileDigest(item) : "";
    h.update(`${item.to}\0${e.type}\0${m.toString(8)}\0${uid}:${gid}\0${e.linkname ?? ""}\0${data}\n`);
  }
  return "sha256:" + h.digest("hex");
}
