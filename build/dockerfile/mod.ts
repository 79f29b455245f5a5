/**
 * The Dockerfile frontend: parser, typed instructions and the word expander.
 *
 * @example
 * ```ts
 * import { parseDockerfileStages } from "./mod.ts";
 * const { stages } = parseDockerfileStages("FROM busybox\nRUN echo hi\n");
 * ```
 *
 * @module
 */
export * from "./parser.ts";
export * from "./instructions.ts";
export * from "./shell_lexer.ts";
