// Owns: Standard Webhooks signing and verification (HMAC-SHA256, `whsec_` secrets): the one implementation the
// server (webhooks/, main.ts, the CLI) and the SDK (client/) share. Not here: what is sent or when (webhooks/).
// Invariant: imports nothing, and uses only what Node, browsers, Deno and Bun all have (Web Crypto, atob/btoa,
// TextEncoder), so the SDK runs anywhere; signatures are compared by Web Crypto's verify (constant time), and
// verification returns a payload only after one matches.

// Not the spec authors' `standardwebhooks` package: it signs with one secret (no rotation), checks a fixed 5 minutes
// against the wall clock (no injected clock or tolerance) and reads no Fetch Headers. This passes the same test vector.

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** 16 base64 characters (10 bytes or more) at the least; a generated secret has 44 (32 bytes). */
const MIN_SECRET_CHARS = 16;
const SIGNATURE_VERSION = 'v1';
export const DEFAULT_WEBHOOK_TOLERANCE_S = 300;
const HMAC = { name: 'HMAC', hash: 'SHA-256' } as const;

export type WebhookHeaders = {
  readonly 'webhook-id': string;
  readonly 'webhook-timestamp': string;
  readonly 'webhook-signature': string;
};

/** A body as received or sent: text, or its bytes (a Node Buffer is a Uint8Array; `await request.arrayBuffer()` works too). */
export type WebhookBody = string | Uint8Array | ArrayBuffer;

export interface SignWebhookParams {
  /**
   * Every secret signs (rotation); the header carries one `v1,…` per secret, space-separated. A string holds one, or
   * several separated by spaces or commas.
   */
  readonly secrets: string | readonly string[];
  /** The message id, stable across retries of one message. */
  readonly msgId: string;
  /** Unix seconds. */
  readonly timestamp: number;
  readonly body: WebhookBody;
}

export interface VerifyWebhookOptions {
  /** How far the timestamp may be from now, either way, in seconds (0 or more; anything else is a TypeError). Default 300. */
  readonly toleranceS?: number | undefined;
  /** Milliseconds since the epoch, like Date.now. */
  readonly now?: (() => number) | undefined;
}

/** A plain header object (any key case; Node's IncomingHttpHeaders fits) or a Fetch `Headers`. */
export type WebhookHeaderSource = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

/** The request is not a genuine, fresh webhook from the holder of the secret. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

const encoder = new TextEncoder();

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The bytes of base64 text; null when atob refuses it (a length no encoding has), where Buffer would guess. */
function fromBase64(text: string): Uint8Array<ArrayBuffer> | null {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return null;
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function bytesOf(body: WebhookBody): Uint8Array {
  if (typeof body === 'string') return encoder.encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

/**
 * The HMAC key inside a secret: base64 after an optional `whsec_` prefix (as the reference libraries accept), at least
 * MIN_SECRET_CHARS of it. The one check of a secret's form: signing, verifying, `serve --webhook-secret` and `listen`
 * all go through it. Throws a TypeError saying what is wrong, without repeating the secret.
 */
export function webhookSecretKey(secret: string): Uint8Array<ArrayBuffer> {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (!BASE64.test(encoded)) throw new TypeError('webhook secret must be "whsec_" followed by base64');
  if (encoded.length < MIN_SECRET_CHARS) throw new TypeError(`webhook secret is too short: at least ${MIN_SECRET_CHARS} base64 characters after "whsec_"`);
  const key = fromBase64(encoded);
  if (key === null) throw new TypeError('webhook secret must be "whsec_" followed by base64');
  return key;
}

/**
 * The secrets a string names: one, or several separated by spaces or commas as `--webhook-secret` takes them and
 * `asyncops webhook-secret` prints them during a rotation (base64 holds neither), a newline from a file included.
 */
function secretsOf(secret: string | readonly string[]): readonly string[] {
  return typeof secret === 'string' ? secret.split(/[\s,]+/).filter((part) => part !== '') : secret;
}

/** Imported keys by secret: a server signs every delivery with the same few secrets. */
type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
const keys = new Map<string, Promise<HmacKey>>();
// A secret per tenant (tenantWebhookSecret) for each of the server's few: as many as the tenants webhooks go to.
const KEY_CACHE_LIMIT = 1_024;

/**
 * Web Crypto's HMAC: a browser gives it only to a secure page (https, or localhost), where elsewhere `crypto.subtle` is
 * undefined and each use failed with "Cannot read properties of undefined (reading 'importKey')".
 */
function subtle(): typeof crypto.subtle {
  const found = (globalThis.crypto as typeof crypto | undefined)?.subtle;
  if (found === undefined) {
    throw new TypeError('Web Crypto (crypto.subtle) is not available here: a browser gives it only to secure pages (https, or localhost)');
  }
  return found;
}

function hmacKey(secret: string): Promise<HmacKey> {
  let key = keys.get(secret);
  if (key === undefined) {
    // Checked (and thrown) here, synchronously, so a bad secret is not cached as a rejected promise.
    const raw = webhookSecretKey(secret);
    key = subtle().importKey('raw', raw, HMAC, false, ['sign', 'verify']);
    if (keys.size >= KEY_CACHE_LIMIT) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

/** What is signed: `{msgId}.{timestamp}.` followed by the body's bytes. */
function signedContent(msgId: string, timestamp: number, body: WebhookBody): Uint8Array<ArrayBuffer> {
  const head = encoder.encode(`${msgId}.${timestamp}.`);
  const tail = bytesOf(body);
  const content = new Uint8Array(head.length + tail.length);
  content.set(head);
  content.set(tail, head.length);
  return content;
}

/** The three Standard Webhooks headers for one attempt of one message. */
export async function signWebhook(params: SignWebhookParams): Promise<WebhookHeaders> {
  const secrets = secretsOf(params.secrets);
  if (secrets.length === 0) throw new TypeError('at least one webhook secret is needed to sign');
  if (!Number.isSafeInteger(params.timestamp) || params.timestamp < 0) throw new TypeError('timestamp must be whole unix seconds');
  const pending = secrets.map(hmacKey);
  const content = signedContent(params.msgId, params.timestamp, params.body);
  const signatures = await Promise.all(
    pending.map(async (key) => `${SIGNATURE_VERSION},${toBase64(new Uint8Array(await subtle().sign('HMAC', await key, content)))}`),
  );
  return {
    'webhook-id': params.msgId,
    'webhook-timestamp': String(params.timestamp),
    'webhook-signature': signatures.join(' '),
  };
}

function header(headers: WebhookHeaderSource, name: string): string | null {
  // Fetch Headers by what they do, not by class: a page's iframe (another realm) has a Headers class of its own.
  const get = (headers as { get?: unknown }).get;
  if (typeof get === 'function') return (get as (name: string) => string | null).call(headers, name);
  for (const [key, value] of Object.entries(headers as Record<string, string | readonly string[] | undefined>)) {
    if (key.toLowerCase() !== name || value === undefined) continue;
    return typeof value === 'string' ? value : value.join(' ');
  }
  return null;
}

/**
 * Verify a webhook request and return its parsed JSON payload (typed `T` by the caller: the SDK's is WebhookEvent).
 * `rawBody` must be the bytes as received: a re-serialised body will not verify.
 * Any of `secret` may match (rotation): a list, or a string of one or several separated by spaces or commas. Rejects
 * with WebhookVerificationError saying what is wrong.
 */
export async function verifyWebhook<T = unknown>(
  secret: string | readonly string[],
  headers: WebhookHeaderSource,
  rawBody: WebhookBody,
  options: VerifyWebhookOptions = {},
): Promise<T> {
  const secrets = secretsOf(secret);
  if (secrets.length === 0) throw new TypeError('at least one webhook secret is needed to verify');
  const pending = secrets.map(hmacKey);

  const msgId = header(headers, 'webhook-id');
  const timestampHeader = header(headers, 'webhook-timestamp');
  const signatureHeader = header(headers, 'webhook-signature');
  const missing = [msgId ? null : 'webhook-id', timestampHeader ? null : 'webhook-timestamp', signatureHeader ? null : 'webhook-signature'].filter(
    (name) => name !== null,
  );
  if (missing.length > 0) throw new WebhookVerificationError(`missing header: ${missing.join(', ')}`);

  const timestamp = /^\d{1,12}$/.test(timestampHeader!.trim()) ? Number(timestampHeader!.trim()) : NaN;
  if (!Number.isSafeInteger(timestamp)) throw new WebhookVerificationError('webhook-timestamp is not unix seconds');
  const toleranceS = options.toleranceS ?? DEFAULT_WEBHOOK_TOLERANCE_S;
  // NaN would pass both comparisons below and turn the replay check off without a word.
  if (typeof toleranceS !== 'number' || !(toleranceS >= 0) || toleranceS === Number.POSITIVE_INFINITY) {
    throw new TypeError(`toleranceS must be a number of seconds, 0 or more (got ${String(toleranceS)})`);
  }
  const now = options.now ?? Date.now;
  // From JavaScript, a Date or a number given as `now` would be called, and fail with words of its own.
  if (typeof now !== 'function') throw new TypeError(`now must be a function returning milliseconds since the epoch, like Date.now (got ${typeof now})`);
  const nowMs = now();
  if (!Number.isFinite(nowMs)) throw new TypeError(`now() must return milliseconds since the epoch (got ${String(nowMs)})`);
  const nowS = Math.floor(nowMs / 1000);
  if (nowS - timestamp > toleranceS) throw new WebhookVerificationError(`webhook-timestamp is more than ${toleranceS} s old`);
  if (timestamp - nowS > toleranceS) throw new WebhookVerificationError(`webhook-timestamp is more than ${toleranceS} s in the future`);

  const offered = signatureHeader!
    .split(' ')
    .map((entry) => entry.split(','))
    .filter((parts) => parts[0] === SIGNATURE_VERSION && parts.length === 2 && BASE64.test(parts[1]!))
    .map((parts) => fromBase64(parts[1]!))
    .filter((bytes) => bytes !== null);
  const content = signedContent(msgId!, timestamp, rawBody);
  // Every pair is checked, so timing says nothing about which one matched.
  const checks = await Promise.all(pending.flatMap((key) => offered.map(async (candidate) => subtle().verify('HMAC', await key, candidate, content))));
  if (!checks.includes(true)) throw new WebhookVerificationError('no matching signature');

  try {
    return JSON.parse(new TextDecoder().decode(bytesOf(rawBody))) as T;
  } catch {
    throw new WebhookVerificationError('signature matches but the body is not JSON');
  }
}

/** What a tenant's secret is derived from besides the server's secret: the purpose, then the tenant's name. */
const TENANT_CONTEXT = 'asyncops webhook secret of tenant\u001f';

/**
 * The secret webhooks of `tenant` are signed with: HMAC-SHA256 of the tenant's name under the server's `secret`, as
 * `whsec_…`. Each tenant's receivers verify with their own, and none of them can sign for another tenant. Whoever holds
 * the server's secret (its operator) can derive every tenant's.
 */
export async function tenantWebhookSecret(secret: string, tenant: string): Promise<string> {
  const key = await subtle().importKey('raw', webhookSecretKey(secret), HMAC, false, ['sign']);
  return SECRET_PREFIX + toBase64(new Uint8Array(await subtle().sign('HMAC', key, encoder.encode(TENANT_CONTEXT + tenant))));
}

/** A fresh secret: `whsec_` and the base64 of 32 random bytes. */
export function generateWebhookSecret(random: (size: number) => Uint8Array = (size) => crypto.getRandomValues(new Uint8Array(size))): string {
  return SECRET_PREFIX + toBase64(random(32));
}
