/**
 * Test probe: in a private mount namespace of its own main thread, builds a minimal container
 * `/dev`, `/proc` and `/sys` under the directory given as argument, applies the default
 * device nodes, masked paths and read-only paths, and prints what a process there would see
 * as JSON. Nothing it mounts outlives it.
 *
 * @module
 */
import { libc } from "../../ffi/libc.ts";
import { CLONE, MS } from "../../ffi/constants.ts";
import { SyscallError } from "../../ffi/errno.ts";
import { createDeviceNodes, createDevSymlinks } from "../../runtime/security/devices.ts";
import { maskPaths, readonlyPaths } from "../../runtime/security/paths.ts";

const root = Deno.args[0];
libc.unshare(CLONE.NEWNS);
libc.mount(null, "/", null, MS.REC | MS.PRIVATE);
for (const d of ["proc", "sys", "dev"]) Deno.mkdirSync(`${root}/${d}`, { recursive: true });
libc.mount("tmpfs", `${root}/dev`, "tmpfs", MS.NOSUID | MS.STRICTATIME, "mode=755");
Deno.mkdirSync(`${root}/dev/pts`);
libc.mount("proc", `${root}/proc`, "proc", MS.NOSUID | MS.NODEV | MS.NOEXEC);
libc.mount("sysfs", `${root}/sys`, "sysfs", MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RDONLY);
createDeviceNodes(root);
createDevSymlinks(root);
const masked = maskPaths(undefined, { root });
const readonly = readonlyPaths(undefined, { root });

function attempt(fn: () => unknown): string {
  try {
    const r = fn();
    return typeof r === "string" ? `ok:${r.length}` : "ok";
  } catch (e) {
    if (e instanceof SyscallError) return e.code;
    return (e as { code?: string }).code ?? String(e);
  }
}

const nul = Deno.lstatSync(`${root}/dev/null`);
console.log(JSON.stringify({
  masked,
  readonly,
  kcore: attempt(() => Deno.readFileSync(`${root}/proc/kcore`).length === 0 ? "" : "data"),
  keysRead: attempt(() => Deno.readTextFileSync(`${root}/proc/keys`)),
  timerList: attempt(() => Deno.readTextFileSync(`${root}/proc/timer_list`)),
  firmware: attempt(() => [...Deno.readDirSync(`${root}/sys/firmware`)].map((e) => e.name).join(",")),
  firmwareWrite: attempt(() => Deno.writeTextFileSync(`${root}/sys/firmware/x`, "1")),
  sysctlWrite: attempt(() => Deno.writeTextFileSync(`${root}/proc/sys/kernel/hostname`, "nope")),
  sysctlRead: attempt(() => Deno.readTextFileSync(`${root}/proc/sys/kernel/ostype`)),
  sysrq: attempt(() => Deno.writeTextFileSync(`${root}/proc/sysrq-trigger`, "h")),
  null: { char: nul.isCharDevice, rdev: nul.rdev, mode: nul.mode! & 0o7777 },
  ptmx: Deno.readLinkSync(`${root}/dev/ptmx`),
  nullWrite: attempt(() => Deno.writeTextFileSync(`${root}/dev/null`, "x")),
}));
