import { assert } from "../tests/assert.ts";
import { loadCommandTree } from "./command_tree.ts";
import { readmeCommandGroups, REFERENCE_PATH, referenceMarkdown } from "./reference_docs.ts";

const REPO = new URL("..", import.meta.url).pathname;

Deno.test("docs/reference.md is up to date with the command definitions", async () => {
  const want = referenceMarkdown(await loadCommandTree());
  const have = await Deno.readTextFile(`${REPO}${REFERENCE_PATH}`).catch(() => "");
  if (have === want) return;
  const a = have.split("\n"), b = want.split("\n");
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  assert(
    false,
    `${REFERENCE_PATH} is stale (first difference at line ${i + 1}: ${JSON.stringify(a[i])} ≠ ${
      JSON.stringify(b[i])
    }): run \`deno task docs\` and commit the result`,
  );
});

Deno.test("the reference holds every command's help text", async () => {
  const md = referenceMarkdown(await loadCommandTree());
  for (
    const s of ["### ctr run", "Usage:  ctr images [OPTIONS]", "### ctr volume prune", "### ctr completion"]
  ) {
    assert(md.includes(s), `missing: ${s}`);
  }
  assert(md.includes("Same as [`ctr images`](#ctr-images)."), "aliases point at their first listing");
});

Deno.test("README.md lists every command group as the definitions have them", async () => {
  const block = readmeCommandGroups(await loadCommandTree());
  const readme = await Deno.readTextFile(`${REPO}README.md`);
  // `deno fmt` may wrap the lines; the words must be the same.
  const flat = (s: string) => s.replace(/\s+/g, " ");
  assert(
    flat(readme).includes(flat(block)),
    "README.md's command groups are stale: run `deno task docs` and commit the result",
  );
});
