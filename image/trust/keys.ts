/**
 * Signing keys and trusted public keys of a state root:
 *
 * ```text
 * <root>/trust/                 0700
 * ├── keys/                     0700
 * │   ├── <name>.key            PKCS#8 PEM private key, 0600 (only for keys made here)
 * │   └── <name>.pub            SubjectPublicKeyInfo PEM public key, 0644 (every trusted key)
 * └── policy.json               optional signature policy (see policy.ts)
 * ```
 *
 * Every `.pub` in `keys/` is a trusted key: `ctr trust verify` and `--verify` accept a
 * signature by any of them unless a policy or `--key` names the keys. Files are written to
 * a temporary name and renamed, so a crash never leaves half a key.
 *
 * @module
 */
import { ConflictError, NotFoundError } from "../../errors.ts";
import {
  exportPrivateKey,
  exportPublicKey,
  generateKeyPair,
  importPrivateKey,
  importPublicKey,
  keyId,
} from "./signature.ts";

/** A trusted public key. */
export interface TrustedKey {
  name: string;
  /** Where its PEM came from (file path). */
  path: string;
  key: CryptoKey;
  /** sha256 of the DER public key, hex. */
  id: string;
  /** Whether this root also holds its private key. */
  hasPrivate: boolean;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;

/** The trust directory of a state root. */
export function trustDir(root: string): string {
  return `${root}/trust`;
}

function keysDir(root: string): string {
  return `${trustDir(root)}/keys`;
}

/** Throws `TypeError` unless `name` is a valid key name. */
export function checkKeyName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new TypeError(
      `Invalid key name: "${name}" (letters, digits, ".", "_", "-"; up to 64, not starting with a symbol)`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeTextFile(tmp, text, { mode, createNew: true });
    await Deno.chmod(tmp, mode); // the umask may have narrowed or widened nothing, but be exact
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

async function ensureDirs(root: string): Promise<void> {
  for (const d of [trustDir(root), keysDir(root)]) {
    await Deno.mkdir(d, { recursive: true, mode: 0o700 });
    await Deno.chmod(d, 0o700);
  }
}

/**
 * Generates an ECDSA P-256 key pair named `name`: the private key 0600, the public key
 * beside it. Throws {@linkcode ConflictError} when the name is taken.
 *
 * @example
 * ```ts
 * const k = await generateKey(root, "release"); // k.publicPem: "-----BEGIN PUBLIC KEY-----…"
 * ```
 */
export async function generateKey(
  root: string,
  name: string,
): Promise<{ name: string; id: string; privatePath: string; publicPath: string; publicPem: string }> {
  checkKeyName(name);
  await ensureDirs(root);
  const privatePath = `${keysDir(root)}/${name}.key`;
  const publicPath = `${keysDir(root)}/${name}.pub`;
  if (await exists(privatePath) || await exists(publicPath)) {
    throw new ConflictError(`A key named "${name}" already exists in ${keysDir(root)}`);
  }
  const pair = await generateKeyPair();
  const publicPem = await exportPublicKey(pair.publicKey);
  await writeAtomic(privatePath, await exportPrivateKey(pair.privateKey), 0o600);
  await writeAtomic(publicPath, publicPem, 0o644);
  return { name, id: await keyId(pair.publicKey), privatePath, publicPath, publicPem };
}

/**
 * Adds a public key (PEM) to the trusted keys under `name`. Throws {@linkcode ConflictError}
 * when the name is taken, `TypeError` when the PEM is not a P-256 public key.
 */
export async function importTrustedKey(root: string, name: string, pem: string): Promise<TrustedKey> {
  checkKeyName(name);
  const key = await importPublicKey(pem);
  await ensureDirs(root);
  const path = `${keysDir(root)}/${name}.pub`;
  if (await exists(path)) throw new ConflictError(`A key named "${name}" already exists in ${keysDir(root)}`);
  await writeAtomic(path, await exportPublicKey(key), 0o644);
  return { name, path, key, id: await keyId(key), hasPrivate: false };
}

/** Removes a key (its private and public files). Throws {@linkcode NotFoundError} when absent. */
export async function removeKey(root: string, name: string): Promise<void> {
  checkKeyName(name);
  let found = false;
  for (const ext of ["key", "pub"]) {
    try {
      await Deno.remove(`${keysDir(root)}/${name}.${ext}`);
      found = true;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  if (!found) throw new NotFoundError(`No such key: ${name}`);
}

/** Every trusted public key of the root, sorted by name. */
export async function listKeys(root: string): Promise<TrustedKey[]> {
  const out: TrustedKey[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(keysDir(root))];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  for (const e of entries) {
    if (!e.isFile || !e.name.endsWith(".pub")) continue;
    const name = e.name.slice(0, -4);
    const path = `${keysDir(root)}/${e.name}`;
    const key = await importPublicKey(await Deno.readTextFile(path)).catch((err) => {
      throw new TypeError(`${path}: ${err.message}`);
    });
    out.push({
      name,
      path,
      key,
      id: await keyId(key),
      hasPrivate: await exists(`${keysDir(root)}/${name}.key`),
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** The trusted public key called `name`. Throws {@linkcode NotFoundError} when absent. */
export async function loadPublicKey(root: string, name: string): Promise<TrustedKey> {
  checkKeyName(name);
  const path = `${keysDir(root)}/${name}.pub`;
  let pem: string;
  try {
    pem = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new NotFoundError(`No such key: ${name}`);
    throw e;
  }
  const key = await importPublicKey(pem);
  return { name, path, key, id: await keyId(key), hasPrivate: await exists(`${keysDir(root)}/${name}.key`) };
}

/**
 * A public key from a PEM file (`--key FILE`), or, when `nameOrPath` has no `/` and names
 * a trusted key, that key.
 */
export async function publicKeyFrom(root: string, nameOrPath: string): Promise<TrustedKey> {
  if (
    !nameOrPath.includes("/") && NAME_RE.test(nameOrPath) &&
    await exists(`${keysDir(root)}/${nameOrPath}.pub`)
  ) {
    return await loadPublicKey(root, nameOrPath);
  }
  let pem: string;
  try {
    pem = await Deno.readTextFile(nameOrPath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`No such key file or key name: ${nameOrPath}`);
    }
    throw e;
  }
  const key = await importPublicKey(pem).catch((err) => {
    throw new TypeError(`${nameOrPath}: ${err.message}`);
  });
  return { name: nameOrPath, path: nameOrPath, key, id: await keyId(key), hasPrivate: false };
}

/**
 * The private key `name` for signing. Refuses a key file readable by others (as ssh does):
 * a signing key that leaked is not a signing key.
 */
export async function loadPrivateKey(root: string, name: string): Promise<{ key: CryptoKey; id: string }> {
  checkKeyName(name);
  const path = `${keysDir(root)}/${name}.key`;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new NotFoundError(
        `No private key named "${name}" (generate one with \`ctr trust key generate\`)`,
      );
    }
    throw e;
  }
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    throw new TypeError(
      `Permissions 0${(info.mode & 0o777).toString(8)} for ${path} are too open: it must be 0600`,
    );
  }
  const key = await importPrivateKey(await Deno.readTextFile(path));
  const pub = await loadPublicKey(root, name);
  return { key, id: pub.id };
}
