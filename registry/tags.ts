/**
 * Tag listing and the repository catalog, both paginated with `n` and `last` in byte order
 * (Go's `sort.Strings`), as distribution does (case 12).
 *
 * @module
 */
import { RegistryError } from "./errors.ts";
import type { MetadataStore, PageQuery } from "./metadata.ts";
import type { TagService } from "./services.ts";

/**
 * The tag service.
 *
 * @example
 * ```ts
 * const { tags, more } = await new Tags(metadata).list("team/app", { n: 2, last: "1.0" });
 * ```
 */
export class Tags implements TagService {
  readonly #meta: MetadataStore;

  constructor(metadata: MetadataStore) {
    this.#meta = metadata;
  }

  async list(repository: string, page: PageQuery): Promise<{ tags: string[]; more: boolean }> {
    if (page.n === 0) {
      if (!await this.#meta.repositoryExists(repository)) throw nameUnknown(repository);
      return { tags: [], more: false };
    }
    // One extra row tells whether a next page exists without a second query.
    const rows = await this.#meta.listTags(repository, { last: page.last, n: page.n && page.n + 1 });
    if (!rows) throw nameUnknown(repository);
    const more = page.n !== undefined && rows.length > page.n;
    return { tags: more ? rows.slice(0, page.n) : rows, more };
  }

  async catalog(page: PageQuery): Promise<{ repositories: string[]; more: boolean }> {
    if (page.n === 0) return { repositories: [], more: false };
    const rows = await this.#meta.listRepositories({ last: page.last, n: page.n && page.n + 1 });
    const more = page.n !== undefined && rows.length > page.n;
    return { repositories: more ? rows.slice(0, page.n) : rows, more };
  }
}

function nameUnknown(repository: string): RegistryError {
  return new RegistryError("NAME_UNKNOWN", `Repository name not known to registry: ${repository}`, {
    detail: { name: repository },
  });
}
