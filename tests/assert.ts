/**
 * Assertions for ctr's tests (JSR's @std/assert is unreachable here, DESIGN.md §5).
 * Deep equality covers primitives, arrays, plain objects, Maps, Sets, Dates, typed arrays.
 *
 * @module
 */

/** Raised by a failed assertion. */
export class AssertionError extends Error {
  override name = "AssertionError";
}

/**
 * Fails unless `cond` is truthy.
 *
 * @example
 * ```ts
 * assert(stat.isFile, "expected a file");
 * ```
 */
export function assert(cond: unknown, msg = "Assertion failed"): asserts cond {
  if (!cond) throw new AssertionError(msg);
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  // Rows from node:sqlite have a null prototype; they still equal a plain object literal.
  const plain = (p: unknown) => p === null || p === Object.prototype;
  const pa = Object.getPrototypeOf(a), pb = Object.getPrototypeOf(b);
  if (pa !== pb && !(plain(pa) && plain(pb))) return false;
  if (a instanceof Date) return a.getTime() === (b as Date).getTime();
  if (ArrayBuffer.isView(a)) {
    const x = a as unknown as ArrayLike<unknown>, y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  if (a instanceof Map) {
    const m = b as Map<unknown, unknown>;
    if (a.size !== m.size) return false;
    for (const [k, v] of a) if (!m.has(k) || !isDeepEqual(v, m.get(k))) return false;
    return true;
  }
  if (a instanceof Set) {
    const s = b as Set<unknown>;
    if (a.size !== s.size) return false;
    for (const v of a) if (!s.has(v)) return false;
    return true;
  }
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k)) return false;
    if (!isDeepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

function show(v: unknown): string {
  return Deno.inspect(v, { depth: 8, iterableLimit: 200, strAbbreviateSize: 2000 });
}

/**
 * Fails unless `actual` deep-equals `expected`.
 *
 * @example
 * ```ts
 * assertEquals(parse("a:b"), { name: "a", tag: "b" });
 * ```
 */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!isDeepEqual(actual, expected)) {
    throw new AssertionError(
      `${msg ? msg + ": " : ""}values differ\n  actual:   ${show(actual)}\n  expected: ${show(expected)}`,
    );
  }
}

/**
 * Fails if `actual` deep-equals `unexpected`.
 *
 * @example
 * ```ts
 * assertNotEquals(a.digest, b.digest);
 * ```
 */
export function assertNotEquals<T>(actual: T, unexpected: T, msg?: string): void {
  if (isDeepEqual(actual, unexpected)) {
    throw new AssertionError(`${msg ? msg + ": " : ""}expected a value other than ${show(unexpected)}`);
  }
}

/**
 * Fails unless `s` matches `re`.
 *
 * @example
 * ```ts
 * assertMatch(stderr, /no such container/i);
 * ```
 */
export function assertMatch(s: string, re: RegExp, msg?: string): void {
  if (!re.test(s)) throw new AssertionError(`${msg ? msg + ": " : ""}${show(s)} does not match ${re}`);
}

/**
 * Fails unless `s` contains `part`.
 *
 * @example
 * ```ts
 * assertStringIncludes(out, "Status: Downloaded");
 * ```
 */
export function assertStringIncludes(s: string, part: string, msg?: string): void {
  if (!s.includes(part)) {
    throw new AssertionError(`${msg ? msg + ": " : ""}${show(s)} does not include ${show(part)}`);
  }
}

type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

/**
 * Fails unless `fn` throws (an instance of `cls`, whose message includes `includes`).
 * Returns the error.
 *
 * @example
 * ```ts
 * const e = assertThrows(() => parseReference("A"), TypeError, "lowercase");
 * ```
 */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  cls?: ErrorClass<E>,
  includes?: string,
): E {
  try {
    fn();
  } catch (e) {
    checkError(e, cls, includes);
    return e as E;
  }
  throw new AssertionError("Expected the function to throw");
}

/**
 * Async {@linkcode assertThrows}.
 *
 * @example
 * ```ts
 * await assertRejects(() => store.get("sha256:00"), NotFoundError);
 * ```
 */
export async function assertRejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  cls?: ErrorClass<E>,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    checkError(e, cls, includes);
    return e as E;
  }
  throw new AssertionError("Expected the promise to reject");
}

function checkError(e: unknown, cls?: ErrorClass<Error>, includes?: string) {
  if (cls && !(e instanceof cls)) {
    throw new AssertionError(`Expected ${cls.name}, got ${show(e)}`);
  }
  if (includes !== undefined && !(e instanceof Error && e.message.includes(includes))) {
    throw new AssertionError(`Expected the error message to include ${show(includes)}, got ${show(e)}`);
  }
}
