/**
 * Which module defines each top-level command. Kept as a table of lazy imports so that
 * `ctr COMMAND` loads one command group, and `ctr help` can still list them all.
 * Each group module exports `title` and `commands: CommandSpec[]`.
 *
 * @module
 */
import type { CommandSpec } from "./flags.ts";

/** A command group module. */
export interface CommandGroup {
  /** Heading under which `ctr help` lists the group's commands. */
  title: string;
  commands: CommandSpec[];
}

/** A lazily imported command group. */
export type GroupLoader = () => Promise<CommandGroup>;

const system: GroupLoader = () => import("./system.ts");
const distribution: GroupLoader = () => import("./distribution.ts");
const serve: GroupLoader = () => import("./serve.ts");

const image: GroupLoader = () => import("./image.ts");
const network: GroupLoader = () => import("./network.ts");
const container: GroupLoader = () => import("./container.ts");
const volume: GroupLoader = () => import("./volume.ts");
const build: GroupLoader = () => import("./build.ts");
const trust: GroupLoader = () => import("./trust.ts");

/** Top-level command name → its group. Several names share one group. */
export const commandTable: Record<string, GroupLoader> = {
  help: system,
  completion: system,
  info: system,
  system: system,
  serve,
  images: image,
  image: image,
  import: image,
  load: image,
  save: image,
  tag: image,
  rmi: image,
  history: image,
  inspect: image,
  version: system,
  pull: distribution,
  push: distribution,
  login: distribution,
  logout: distribution,
  network,
  port: network,
  run: container,
  create: container,
  start: container,
  stop: container,
  kill: container,
  restart: container,
  rm: container,
  ps: container,
  logs: container,
  wait: container,
  attach: container,
  exec: container,
  top: container,
  stats: container,
  pause: container,
  unpause: container,
  cp: container,
  rename: container,
  container: container,
  volume: volume,
  build,
  builder: build,
  trust,
};
