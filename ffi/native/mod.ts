/**
 * ctr's one native program, `ctr-nsexec` (`nsexec.c`: the single-threaded step into a user
 * namespace, DESIGN.md §3), and where to find it:
 *
 * ```text
 * ffi/native/
 * ├── nsexec.c              the source
 * └── .build/ctr-nsexec     built from it (gcc, static) on first use or by tests/setup
 * ```
 *
 * From source, the program is compiled when missing or older than its source. The compiled
 * ctr (`deno task compile`, which builds it first and embeds it with `--include`) writes
 * its embedded copy to `<root>/run/ctr-nsexec` when that is missing or differs.
 *
 * @module
 */

const SOURCE = new URL("./nsexec.c", import.meta.url);
const BUILT = new URL("./.build/ctr-nsexec", import.meta.url);

let cached: string | undefined;

function mtime(path: string): number | undefined {
  try {
    return Deno.statSync(path).mtime?.getTime();
  } catch {
    return undefined;
  }
}

/**
 * Compiles `nsexec.c` into `out` with gcc (static, so it needs no loader or library inside
 * any namespace). Throws with gcc's message when it fails.
 */
export function buildNsexec(out = BUILT.pathname): string {
  Deno.mkdirSync(out.slice(0, out.lastIndexOf("/")), { recursive: true });
  const tmp = `${out}.tmp-${Deno.pid}`;
  let r: Deno.CommandOutput;
  try {
    r = new Deno.Command("gcc", {
      args: ["-O2", "-static", "-Wall", "-Werror", "-o", tmp, SOURCE.pathname],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
  } catch (e) {
    throw new Error(
      `Cannot build ctr-nsexec (user namespaces need it): gcc: ${
        (e as Error).message
      } (install gcc and libc6-dev)`,
    );
  }
  if (!r.success) {
    try {
      Deno.removeSync(tmp);
    } catch { /* nothing written */ }
    throw new Error(`Cannot build ctr-nsexec: ${new TextDecoder().decode(r.stderr).trim()}`);
  }
  Deno.renameSync(tmp, out);
  return out;
}

/**
 * The path of `ctr-nsexec`, building or unpacking it when needed.
 *
 * @example
 * ```ts
 * new Deno.Command(nsexecPath(root), { args: ["create", statusPath, "--", deno, …] });
 * ```
 */
export function nsexecPath(root: string): string {
  if (cached) return cached;
  if (Deno.build.standalone) {
    const embedded = Deno.readFileSync(BUILT);
    const target = `${root}/run/ctr-nsexec`;
    let same = false;
    try {
      const have = Deno.readFileSync(target);
      same = have.length === embedded.length && have.every((b, i) => b === embedded[i]);
    } catch { /* missing */ }
    if (!same) {
      Deno.mkdirSync(`${root}/run`, { recursive: true });
      Deno.writeFileSync(`${target}.tmp`, embedded, { mode: 0o755 });
      Deno.renameSync(`${target}.tmp`, target);
    }
    return cached = target;
  }
  const built = mtime(BUILT.pathname);
  const source = mtime(SOURCE.pathname);
  if (built === undefined || (source !== undefined && source > built)) buildNsexec();
  return cached = BUILT.pathname;
}
