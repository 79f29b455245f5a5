/**
 * `--change` for `ctr import` (and commit): Dockerfile instructions applied to an image
 * config, with Docker's rule on which instructions are allowed. Parsing and evaluation are
 * the builder's (`build/dockerfile`, `build/stage_state.ts`), so `--change 'CMD echo hi'`
 * means exactly what the same line means in a Dockerfile. Pure: no I/O.
 *
 * @module
 */
import type { ContainerConfig, ImageConfig, Platform } from "./oci.ts";
import { dockerfileStages } from "../build/dockerfile/instructions.ts";
import { DockerfileParseError, parseDockerfile } from "../build/dockerfile/parser.ts";
import { StageState } from "../build/stage_state.ts";

/** Instructions `docker import --change` accepts (moby's validCommitCommands). */
const ALLOWED = new Set([
  "CMD",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "HEALTHCHECK",
  "LABEL",
  "ONBUILD",
  "STOPSIGNAL",
  "USER",
  "VOLUME",
  "WORKDIR",
]);

/**
 * Applies `--change` lines to a container config (a copy is returned).
 *
 * @example
 * ```ts
 * applyChanges({}, ["CMD /bin/sh", "ENV A=1"], { os: "linux", architecture: "amd64" });
 * // { Cmd: ["/bin/sh", "-c", "/bin/sh"], Env: ["A=1"] }
 * ```
 */
export function applyChanges(
  config: ContainerConfig,
  changes: string[],
  platform: Platform,
): ContainerConfig {
  if (!changes.length) return structuredClone(config);
  for (const c of changes) {
    const word = c.trim().split(/\s+/, 1)[0].toUpperCase();
    if (!ALLOWED.has(word)) throw new TypeError(`${word.toLowerCase()} is not a valid change command`);
  }
  let stages;
  try {
    stages = dockerfileStages(parseDockerfile(`FROM scratch\n${changes.join("\n")}\n`, { file: "--change" }));
  } catch (e) {
    throw new TypeError(
      `Invalid --change: ${e instanceof DockerfileParseError ? e.problem : (e as Error).message}`,
    );
  }
  const base: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    config: structuredClone(config),
    rootfs: { type: "layers", diff_ids: [] },
  };
  const state = new StageState({
    stage: stages.stages[0],
    base: { config: base },
    platform,
    globals: new Map(),
    buildArgs: new Map(),
    created: new Date(0).toISOString(),
    file: "--change",
  });
  try {
    for (const _ of state.steps()) { /* meta and workdir steps only: the config is what counts */ }
  } catch (e) {
    throw new TypeError(
      `Invalid --change: ${e instanceof DockerfileParseError ? e.problem : (e as Error).message}`,
    );
  }
  return state.image.config ?? {};
}
