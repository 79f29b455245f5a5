/**
 * ctr's own streaming tar: ustar + PAX + GNU long names, on web streams.
 *
 * - {@linkcode TarParser} / {@linkcode readTar}: reading (see `reader.ts`).
 * - {@linkcode TarWriter} / {@linkcode encodeTar}: deterministic writing (see `writer.ts`).
 * - {@linkcode encodeHeader} and the {@linkcode TarHeader} type (see `header.ts`).
 *
 * @example
 * ```ts
 * import { readTar } from "./image/tar/mod.ts";
 * for await (const e of readTar(file.readable)) console.log(e.header.name);
 * ```
 *
 * @module
 */
export { BLOCK, encodeHeader, TarError } from "./header.ts";
export type { TarEntryType, TarHeader } from "./header.ts";
export { readTar, TarParser } from "./reader.ts";
export type { TarEntry, TarHandler } from "./reader.ts";
export { encodeTar, TarWriter } from "./writer.ts";
export type { TarBody, TarWriterOptions } from "./writer.ts";
