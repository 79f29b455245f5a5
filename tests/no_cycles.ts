/**
 * Fails when the static (non-type) imports of the project's modules form a cycle.
 * Dynamic `import()` is how command groups load lazily and is not counted.
 *
 * @module
 */
const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const skip = /^(\.deno|node_modules|dist|\.git)$/;

function* walk(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    if (skip.test(e.name)) continue;
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walk(p);
    else if (e.name.endsWith(".ts")) yield p;
  }
}

const IMPORT_RE = /^\s*(?:import|export)\s+(?!type\b)(?:[^"';]*?\sfrom\s+)?["'](\.{1,2}\/[^"']+)["']/gm;

const graph = new Map<string, string[]>();
for (const file of walk(root)) {
  const text = Deno.readTextFileSync(file);
  const deps: string[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    deps.push(new URL(m[1], `file://${file}`).pathname);
  }
  graph.set(file, deps);
}

const state = new Map<string, 1 | 2>();
const stack: string[] = [];
const cycles: string[][] = [];
function visit(f: string) {
  state.set(f, 1);
  stack.push(f);
  for (const d of graph.get(f) ?? []) {
    if (state.get(d) === 1) cycles.push([...stack.slice(stack.indexOf(d)), d]);
    else if (!state.has(d)) visit(d);
  }
  stack.pop();
  state.set(f, 2);
}
for (const f of graph.keys()) if (!state.has(f)) visit(f);

if (cycles.length) {
  for (const c of cycles) {
    console.error("import cycle: " + c.map((p) => p.slice(root.length + 1)).join(" → "));
  }
  Deno.exit(1);
}
console.log(`no import cycles among ${graph.size} modules`);
