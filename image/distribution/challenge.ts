/**
 * `WWW-Authenticate` challenges (RFC 7235 §4.1) and token scopes (the registry token spec).
 * Pure: no I/O.
 *
 * A header may carry several challenges, and Deno's `Headers` joins repeated headers with
 * `", "`, so a comma can end a parameter, separate two challenges, or sit inside a quoted
 * string (`scope="repository:a:pull,push"`). The grammar decides which:
 *
 * ```text
 * challenges  := challenge *( OWS "," OWS challenge )
 * challenge   := scheme [ 1*SP ( token68 / param *( OWS "," OWS param ) ) ]
 * param       := token BWS "=" BWS ( token / quoted-string )
 * ```
 *
 * Scheme and parameter names are case-insensitive (kept lowercase here); values keep their
 * case. A `scope` value may hold several space-separated scopes.
 *
 * @module
 */

/** One parsed challenge. */
export interface Challenge {
  /** Lowercase scheme: `basic`, `bearer`, … */
  scheme: string;
  /** Parameters by lowercase name. */
  params: Record<string, string>;
  /** The token68 form (`Negotiate abc==`), when used instead of parameters. */
  token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /[A-Za-z0-9\-._~+/]/;

/**
 * Parses a `WWW-Authenticate` header value into its challenges. Malformed trailing parts are
 * ignored rather than thrown: a registry's odd header must not hide a usable challenge.
 *
 * @example
 * ```ts
 * parseChallenges('Bearer realm="https://auth/token",service="reg",scope="repository:a:pull,push"');
 * // [{ scheme: "bearer", params: { realm: "https://auth/token", service: "reg",
 * //    scope: "repository:a:pull,push" } }]
 * ```
 */
export function parseChallenges(header: string): Challenge[] {
  const s = header;
  let i = 0;
  const out: Challenge[] = [];
  const ws = () => {
    while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < s.length && TCHAR.test(s[i])) i++;
    return s.slice(start, i);
  };
  const quoted = (): string => {
    // at the opening quote
    i++;
    let v = "";
    while (i < s.length && s[i] !== '"') {
      if (s[i] === "\\" && i + 1 < s.length) i++;
      v += s[i++];
    }
    i++; // closing quote (or end)
    return v;
  };
  /** Whether a `name =` parameter starts at the current position (without consuming it). */
  const paramAhead = (): boolean => {
    const save = i;
    const name = token();
    ws();
    const yes = name !== "" && s[i] === "=" && !(s[i + 1] === "=" || s[i + 1] === undefined);
    i = save;
    return yes;
  };
  const skipSeparators = () => {
    for (;;) {
      ws();
      if (s[i] === ",") i++;
      else break;
    }
  };

  skipSeparators();
  while (i < s.length) {
    const scheme = token();
    if (!scheme) {
      // Not a token where a scheme should be: skip to the next comma and try again.
      while (i < s.length && s[i] !== ",") i++;
      skipSeparators();
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    ws();
    if (i < s.length && s[i] !== "," && !paramAhead()) {
      // token68
      const start = i;
      while (i < s.length && TOKEN68.test(s[i])) i++;
      while (s[i] === "=") i++;
      if (i > start) challenge.token68 = s.slice(start, i);
      skipSeparators();
      continue;
    }
    // parameters, until something that is not `name=` (the next challenge's scheme)
    for (;;) {
      skipSeparators();
      if (i >= s.length || !paramAhead()) break;
      const name = token().toLowerCase();
      ws();
      i++; // "="
      ws();
      const value = s[i] === '"' ? quoted() : token();
      challenge.params[name] = value;
    }
  }
  return out;
}

/** A resource scope of the registry token spec: `repository:team/app:pull,push`. */
export interface Scope {
  type: string;
  name: string;
  actions: string[];
}

/**
 * Parses one scope. The name may itself contain `:` (a registry host with a port), so the
 * type is before the first colon and the actions after the last.
 *
 * @example
 * ```ts
 * parseScope("repository:team/app:pull,push"); // { type: "repository", name: "team/app", actions: ["pull", "push"] }
 * ```
 */
export function parseScope(s: string): Scope | undefined {
  const first = s.indexOf(":");
  const last = s.lastIndexOf(":");
  if (first <= 0 || last === first) return undefined;
  const actions = s.slice(last + 1).split(",").filter((a) => a !== "");
  return { type: s.slice(0, first), name: s.slice(first + 1, last), actions };
}

/**
 * Formats a scope back to its string form.
 *
 * @example
 * ```ts
 * formatScope({ type: "repository", name: "a", actions: ["pull"] }); // "repository:a:pull"
 * ```
 */
export function formatScope(scope: Scope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(",")}`;
}

/**
 * Splits a challenge's `scope` parameter (space-separated scopes) into its scopes.
 *
 * @example
 * ```ts
 * splitScopes("repository:a:pull repository:b:pull"); // ["repository:a:pull", "repository:b:pull"]
 * ```
 */
export function splitScopes(value: string | undefined): string[] {
  return (value ?? "").split(/\s+/).filter((x) => x !== "");
}

/**
 * The scope an operation on a repository needs.
 *
 * @example
 * ```ts
 * repositoryScope("team/app", "push"); // "repository:team/app:pull,push"
 * ```
 */
export function repositoryScope(repository: string, access: "pull" | "push"): string {
  return `repository:${repository}:${access === "push" ? "pull,push" : "pull"}`;
}

/**
 * The scopes to ask the token server for: those the challenge named, kept as written, plus
 * what the operation needs and the challenge does not already cover. A challenge without a
 * scope (as from `GET /v2/`) gives just the operation's scopes — they are synthesised from
 * the operation, never left out.
 *
 * @example
 * ```ts
 * mergeScopes(["repository:a:pull"], ["repository:a:pull,push"]); // ["repository:a:pull,push"]
 * mergeScopes(["repository:a:pull,push"], ["repository:a:pull"]); // ["repository:a:pull,push"]
 * ```
 */
export function mergeScopes(challenged: string[], needed: string[]): string[] {
  const out = [...challenged];
  for (const want of needed) {
    const w = parseScope(want);
    if (!w) {
      if (!out.includes(want)) out.push(want);
      continue;
    }
    const idx = out.findIndex((have) => {
      const h = parseScope(have);
      return h !== undefined && h.type === w.type && h.name === w.name;
    });
    if (idx === -1) {
      out.push(want);
      continue;
    }
    const h = parseScope(out[idx])!;
    const missing = w.actions.filter((a) => !h.actions.includes(a));
    if (missing.length) out[idx] = formatScope({ ...h, actions: [...h.actions, ...missing] });
  }
  return out;
}
