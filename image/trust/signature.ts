/**
 * Image signatures, pure: the simple-signing payload cosign uses, ECDSA P-256 signing and
 * verification through WebCrypto, and the conversions between WebCrypto's raw `r‖s`
 * signatures and the ASN.1 DER form cosign stores (Go's `ecdsa.SignASN1`).
 *
 * The payload names the manifest digest and the repository; the signature is over the
 * payload bytes exactly as stored, so a verifier checks the signature first and only then
 * reads the JSON it covers.
 *
 * @module
 */
import { parseDigest } from "../digest.ts";

/** `type` of cosign's simple-signing payload. */
export const SIGNATURE_PAYLOAD_TYPE = "cosign container image signature";
/** Media type of the payload blob (cosign's). */
export const SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
/** Annotation on the payload descriptor holding the base64 signature (cosign's). */
export const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
/** `artifactType` of a signature manifest attached as an OCI referrer (cosign's OCI 1.1 mode). */
export const SIGNATURE_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json";

/** The simple-signing payload. */
export interface SignaturePayload {
  critical: {
    identity: { "docker-reference": string };
    image: { "docker-manifest-digest": string };
    type: string;
  };
  optional: Record<string, unknown> | null;
}

/** A signature claim, decoded: which manifest in which repository. */
export interface SignatureClaim {
  /** Repository the signer named (`127.0.0.1:5000/team/app`). */
  repository: string;
  /** Manifest (or index) digest signed. */
  digest: string;
  optional: Record<string, unknown>;
}

/**
 * The payload bytes for a manifest digest in a repository.
 *
 * @example
 * ```ts
 * const bytes = makePayload("127.0.0.1:5000/team/app", "sha256:…");
 * ```
 */
export function makePayload(
  repository: string,
  digest: string,
  optional: Record<string, unknown> = {},
): Uint8Array<ArrayBuffer> {
  parseDigest(digest);
  const payload: SignaturePayload = {
    critical: {
      identity: { "docker-reference": repository },
      image: { "docker-manifest-digest": digest },
      type: SIGNATURE_PAYLOAD_TYPE,
    },
    optional,
  };
  return new TextEncoder().encode(JSON.stringify(payload));
}

/**
 * Reads a payload (already covered by a verified signature). Throws `TypeError` naming what
 * is wrong when it is not a simple-signing payload.
 *
 * @example
 * ```ts
 * parsePayload(makePayload("h/x", d)).digest === d; // true
 * ```
 */
export function parsePayload(bytes: Uint8Array): SignatureClaim {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new TypeError(`Signature payload is not JSON: ${(e as Error).message}`);
  }
  const p = doc as Partial<SignaturePayload> | null;
  const critical = p?.critical;
  if (!critical || typeof critical !== "object") {
    throw new TypeError("Signature payload has no critical section");
  }
  if (critical.type !== SIGNATURE_PAYLOAD_TYPE) {
    throw new TypeError(`Signature payload has an unknown type: ${JSON.stringify(critical.type)}`);
  }
  const digest = critical.image?.["docker-manifest-digest"];
  if (typeof digest !== "string") throw new TypeError("Signature payload names no manifest digest");
  parseDigest(digest);
  const repository = critical.identity?.["docker-reference"];
  if (typeof repository !== "string") throw new TypeError("Signature payload names no repository");
  const optional = p?.optional && typeof p.optional === "object" ? p.optional : {};
  return { repository, digest, optional };
}

// --------------------------------------------------------------- ECDSA and encodings

const P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;

/** A P-256 key pair, extractable (to be written as PEM). */
export function generateKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(P256, true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
}

/**
 * PEM armour of DER bytes.
 *
 * @example
 * ```ts
 * toPem("PUBLIC KEY", der); // "-----BEGIN PUBLIC KEY-----\n…"
 * ```
 */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = base64Encode(der);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * The DER bytes of the first PEM block with `label`. Throws `TypeError` when there is none.
 *
 * @example
 * ```ts
 * fromPem(toPem("PUBLIC KEY", der), "PUBLIC KEY"); // der
 * ```
 */
export function fromPem(pem: string, label: string): Uint8Array<ArrayBuffer> {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`);
  const m = re.exec(pem);
  if (!m) throw new TypeError(`No "${label}" PEM block found`);
  try {
    return base64Decode(m[1].replace(/\s+/g, ""));
  } catch {
    throw new TypeError(`The "${label}" PEM block is not valid base64`);
  }
}

/** A public key from SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), P-256 only. */
export async function importPublicKey(pem: string): Promise<CryptoKey> {
  const der = fromPem(pem, "PUBLIC KEY");
  try {
    return await crypto.subtle.importKey("spki", der, P256, true, ["verify"]);
  } catch (e) {
    throw new TypeError(`Not an ECDSA P-256 public key: ${(e as Error).message}`);
  }
}

/** A private key from PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), P-256 only. */
export async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const der = fromPem(pem, "PRIVATE KEY");
  try {
    return await crypto.subtle.importKey("pkcs8", der, P256, false, ["sign"]);
  } catch (e) {
    throw new TypeError(`Not an ECDSA P-256 private key: ${(e as Error).message}`);
  }
}

/** SubjectPublicKeyInfo PEM of a public key. */
export async function exportPublicKey(key: CryptoKey): Promise<string> {
  return toPem("PUBLIC KEY", new Uint8Array(await crypto.subtle.exportKey("spki", key)));
}

/** PKCS#8 PEM of a private key. */
export async function exportPrivateKey(key: CryptoKey): Promise<string> {
  return toPem("PRIVATE KEY", new Uint8Array(await crypto.subtle.exportKey("pkcs8", key)));
}

/**
 * The key's identifier: sha256 of its SubjectPublicKeyInfo DER, hex (what `trust key ls`
 * shows and what errors name).
 */
export async function keyId(publicKey: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("spki", publicKey);
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return [...hash].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Signs `payload`; returns the ASN.1 DER signature (cosign's form).
 *
 * @example
 * ```ts
 * const sig = await signPayload(keys.privateKey, makePayload(repo, digest));
 * ```
 */
export async function signPayload(
  privateKey: CryptoKey,
  payload: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array> {
  const raw = new Uint8Array(await crypto.subtle.sign(SIGN, privateKey, payload));
  return rawToDer(raw);
}

/**
 * Whether `signature` (DER, or raw `r‖s`) is a valid signature of `payload` by `publicKey`.
 *
 * @example
 * ```ts
 * await verifyPayload(keys.publicKey, payload, sig); // true
 * ```
 */
export async function verifyPayload(
  publicKey: CryptoKey,
  payload: Uint8Array<ArrayBuffer>,
  signature: Uint8Array,
): Promise<boolean> {
  let raw: Uint8Array<ArrayBuffer>;
  try {
    raw = signature.length === 64 && signature[0] !== 0x30 ? new Uint8Array(signature) : derToRaw(signature);
  } catch {
    return false;
  }
  return await crypto.subtle.verify(SIGN, publicKey, raw, payload);
}

/** Raw `r‖s` (64 bytes) → DER `SEQUENCE { INTEGER r, INTEGER s }`. */
export function rawToDer(raw: Uint8Array): Uint8Array {
  if (raw.length !== 64) throw new RangeError(`ECDSA P-256 signature must be 64 bytes, got ${raw.length}`);
  const int = (b: Uint8Array) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const v = b.subarray(i);
    const body = v[0] & 0x80 ? [0, ...v] : [...v];
    return [0x02, body.length, ...body];
  };
  const seq = [...int(raw.subarray(0, 32)), ...int(raw.subarray(32))];
  return new Uint8Array([0x30, seq.length, ...seq]);
}

/** DER `SEQUENCE { INTEGER r, INTEGER s }` → raw `r‖s` (64 bytes). Strict: throws on anything else. */
export function derToRaw(der: Uint8Array): Uint8Array<ArrayBuffer> {
  const bad = (why: string) => new TypeError(`Malformed DER signature: ${why}`);
  if (der.length < 8 || der[0] !== 0x30) throw bad("not a SEQUENCE");
  if (der[1] !== der.length - 2) throw bad("wrong length");
  const out = new Uint8Array(64);
  let at = 2;
  for (let k = 0; k < 2; k++) {
    if (der[at] !== 0x02) throw bad("not an INTEGER");
    const len = der[at + 1];
    let v = der.subarray(at + 2, at + 2 + len);
    if (v.length !== len || len === 0) throw bad("truncated INTEGER");
    if (v[0] & 0x80) throw bad("negative INTEGER");
    if (v.length > 1 && v[0] === 0 && !(v[1] & 0x80)) throw bad("INTEGER not minimally encoded");
    if (v[0] === 0 && v.length > 1) v = v.subarray(1);
    if (v.length > 32) throw bad("INTEGER longer than 32 bytes");
    out.set(v, k * 32 + 32 - v.length);
    at += 2 + len;
  }
  if (at !== der.length) throw bad("trailing bytes");
  return out;
}

/** Standard base64 of bytes. */
export function base64Encode(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Bytes of standard base64 (throws on invalid input). */
export function base64Decode(text: string): Uint8Array<ArrayBuffer> {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
