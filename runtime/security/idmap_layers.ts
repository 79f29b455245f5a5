/**
 * Read-only layers shared with a container that runs in a user namespace. Snapshots hold the
 * image's own owners (root is 0); through the container's maps root is, say, 100000 on the
 * host, so the layers must appear shifted:
 *
 * - **idmapped mounts** (Linux ≥ 5.12; overlay lower layers on them since 5.19): each layer
 *   is cloned with `open_tree`, given the container's user namespace with `mount_setattr`
 *   (`MOUNT_ATTR_IDMAP`) and attached under the container's directory; the container's
 *   overlay, mounted by the host over those ({@linkcode mountOverlayOnHost}), stacks them.
 *   Nothing is copied and every container shares the snapshots. The host's mounts are
 *   detached once the container's mount namespace holds them.
 * - **a chowned copy**, once per layer and id map, where the kernel refuses idmapped
 *   mounts: `<root>/userns/<uid>-<gid>/<snapshot>/`, every owner shifted through the maps.
 *
 * ```text
 * <root>/containers/<id>/idmap/<n>/      idmapped mount of lower layer n (while starting)
 * <root>/userns/<hostuid>-<hostgid>/<layer>/   chowned copy (fallback), kept for reuse
 * ```
 *
 * @module
 */
import { libc } from "../../ffi/libc.ts";
import { MNT, O } from "../../ffi/constants.ts";
import { hostIdOf, type UsernsMaps } from "./userns.ts";

/** Layers as the container's overlay should stack them. */
export interface IdmappedLayers {
  dirs: string[];
  /** Detaches the host's copies of the idmapped mounts (idempotent). */
  release(): void;
}

/**
 * Idmapped views of `lowerDirs` under `baseDir`, through the user namespace of `pid`.
 * Throws the kernel's refusal (e.g. EINVAL on a filesystem without idmap support).
 */
export function idmapLayers(lowerDirs: string[], baseDir: string, pid: number): IdmappedLayers {
  const usernsFd = libc.open(`/proc/${pid}/ns/user`, O.RDONLY | O.CLOEXEC);
  const made: string[] = [];
  const release = () => {
    for (const d of made.splice(0)) {
      try {
        libc.umount(d, MNT.DETACH);
      } catch { /* already gone */ }
      try {
        Deno.removeSync(d);
      } catch { /* busy or gone */ }
    }
    try {
      Deno.removeSync(baseDir);
    } catch { /* not empty or gone */ }
  };
  try {
    Deno.mkdirSync(baseDir, { recursive: true, mode: 0o711 });
    Deno.chmodSync(baseDir, 0o711); // the container's root passes through to its layers
    lowerDirs.forEach((dir, i) => {
      const target = `${baseDir}/${i}`;
      Deno.mkdirSync(target, { recursive: true });
      made.push(target);
      libc.idmappedMount(dir, target, usernsFd);
    });
  } catch (e) {
    release();
    throw e;
  } finally {
    libc.close(usernsFd);
  }
  return { dirs: made.slice(), release };
}

/**
 * A copy of `layer` with every owner shifted through `maps`, made once under `cacheDir`
 * (renamed into place when complete, so a crash leaves no half copy in use).
 */
export async function chownedCopy(layer: string, cacheDir: string, maps: UsernsMaps): Promise<string> {
  const uid = hostIdOf(maps.uidMap, 0), gid = hostIdOf(maps.gidMap, 0);
  const dir = `${cacheDir}/${uid}-${gid}`;
  const name = layer.replace(/\/+$/, "").split("/").slice(-2).join("-");
  const target = `${dir}/${name}`;
  try {
    await Deno.lstat(target);
    return target;
  } catch { /* make it */ }
  await Deno.mkdir(dir, { recursive: true, mode: 0o711 });
  const tmp = `${target}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  const cp = await new Deno.Command("cp", { args: ["-a", "--reflink=auto", layer, tmp], stderr: "piped" })
    .output();
  if (!cp.success) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw new Error(`Cannot copy layer ${layer}: ${new TextDecoder().decode(cp.stderr).trim()}`);
  }
  shiftOwners(tmp, maps);
  await Deno.rename(tmp, target);
  return target;
}

/** Longest mount(2) data the kernel takes (one page, minus a margin). */
const MAX_MOUNT_DATA = 4000;

/**
 * Mounts the container's overlay on the host (as the host's root), over layers already
 * shifted (idmapped mounts or copies), and returns how to detach it. Mounted here rather
 * than inside the user namespace because overlayfs mounted there cannot read its
 * `trusted.overlay.*` xattrs, so opaque directories of the image would leak the entries
 * of the layers below. The init binds this mount as its root; once the container runs the
 * host's copy is detached.
 */
export function mountOverlayOnHost(
  lowerDirs: string[],
  upperDir: string,
  workDir: string,
  target: string,
): () => void {
  const tail = `,upperdir=${upperDir},workdir=${workDir}`;
  let data = `lowerdir=${lowerDirs.join(":")}${tail}`;
  let cwd: string | undefined;
  if (data.length > MAX_MOUNT_DATA) {
    // The shifted layers share one parent (idmap/ or a copies directory): name them from it.
    const parent = lowerDirs[0].slice(0, lowerDirs[0].lastIndexOf("/"));
    if (!lowerDirs.every((d) => d.startsWith(parent + "/"))) {
      throw new RangeError(`Too many layers for one overlay mount (${lowerDirs.length})`);
    }
    data = `lowerdir=${lowerDirs.map((d) => d.slice(parent.length + 1)).join(":")}${tail}`;
    if (data.length > MAX_MOUNT_DATA) {
      throw new RangeError(`Too many layers for one overlay mount (${lowerDirs.length})`);
    }
    cwd = parent;
  }
  const back = cwd ? Deno.cwd() : undefined;
  try {
    if (cwd) libc.chdir(cwd);
    libc.mount("overlay", target, "overlay", 0, data);
  } finally {
    if (back) libc.chdir(back);
  }
  let mounted = true;
  return () => {
    if (!mounted) return;
    mounted = false;
    try {
      libc.umount(target, MNT.DETACH);
    } catch { /* gone */ }
  };
}

/**
 * Shifts the owner of every entry under `path` (itself included, symlinks not followed)
 * through `maps`: what belonged to id N belongs to the host id N maps to. Ids outside the
 * maps become 65534 (nobody).
 */
export function shiftOwners(path: string, maps: UsernsMaps): void {
  const st = Deno.lstatSync(path);
  const u = hostIdOf(maps.uidMap, st.uid ?? 0) ?? 65534;
  const g = hostIdOf(maps.gidMap, st.gid ?? 0) ?? 65534;
  libc.lchown(path, u, g);
  // chown clears setuid/setgid bits of regular files: put them back.
  if (st.isFile && st.mode !== null && (st.mode & 0o6000)) Deno.chmodSync(path, st.mode & 0o7777);
  if (st.isDirectory) { for (const e of Deno.readDirSync(path)) shiftOwners(`${path}/${e.name}`, maps); }
}
