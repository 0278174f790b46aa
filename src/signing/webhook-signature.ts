// Owns: Standard Webhooks signing and verification (HMAC-SHA256, `whsec_` secrets): the one implementation the
// server (webhooks/, main.ts, the CLI) and the SDK (client/) share. Not here: what is sent or when (webhooks/).
// Invariant: imports nothing of ours and only node:crypto, so the SDK carries no server code; signatures are compared
// in constant time, and verification returns a payload only after one matches.

// Not the spec authors' `standardwebhooks` package: it signs with one secret (no rotation), checks a fixed 5 minutes
// against the wall clock (no injected clock or tolerance) and reads no Fetch Headers. This passes the same test vector.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** 16 base64 characters (10 bytes or more) at the least; a generated secret has 44 (32 bytes). */
const MIN_SECRET_CHARS = 16;
const SIGNATURE_VERSION = 'v1';
export const DEFAULT_WEBHOOK_TOLERANCE_S = 300;

export type WebhookHeaders = {
  readonly 'webhook-id': string;
  readonly 'webhook-timestamp': string;
  readonly 'webhook-signature': string;
};

export interface SignWebhookParams {
  /** Every secret signs (rotation); the header carries one `v1,…` per secret, space-separated. */
  readonly secrets: readonly string[];
  /** The message id, stable across retries of one message. */
  readonly msgId: string;
  /** Unix seconds. */
  readonly timestamp: number;
  readonly body: string | Buffer;
}

export interface VerifyWebhookOptions {
  /** How far the timestamp may be from now, either way, in seconds. Default 300. */
  readonly toleranceS?: number;
  /** Milliseconds since the epoch, like Date.now. */
  readonly now?: () => number;
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

/**
 * The HMAC key inside a secret: base64 after an optional `whsec_` prefix (as the reference libraries accept), at least
 * MIN_SECRET_CHARS of it. The one check of a secret's form: signing, verifying, `serve --webhook-secret` and `listen`
 * all go through it. Throws a TypeError saying what is wrong, without repeating the secret.
 */
export function webhookSecretKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (!BASE64.test(encoded)) throw new TypeError('webhook secret must be "whsec_" followed by base64');
  if (encoded.length < MIN_SECRET_CHARS) throw new TypeError(`webhook secret is too short: at least ${MIN_SECRET_CHARS} base64 characters after "whsec_"`);
  return Buffer.from(encoded, 'base64');
}

function signatureBytes(key: Buffer, msgId: string, timestamp: number, body: string | Buffer): Buffer {
  const hmac = createHmac('sha256', key);
  hmac.update(`${msgId}.${timestamp}.`);
  hmac.update(body);
  return hmac.digest();
}

/** The three Standard Webhooks headers for one attempt of one message. */
export function signWebhook(params: SignWebhookParams): WebhookHeaders {
  if (params.secrets.length === 0) throw new TypeError('at least one webhook secret is needed to sign');
  if (!Number.isSafeInteger(params.timestamp) || params.timestamp < 0) throw new TypeError('timestamp must be whole unix seconds');
  const signatures = params.secrets.map(
    (secret) => `${SIGNATURE_VERSION},${signatureBytes(webhookSecretKey(secret), params.msgId, params.timestamp, params.body).toString('base64')}`,
  );
  return {
    'webhook-id': params.msgId,
    'webhook-timestamp': String(params.timestamp),
    'webhook-signature': signatures.join(' '),
  };
}

function header(headers: WebhookHeaderSource, name: string): string | null {
  if (typeof Headers !== 'undefined' && headers instanceof Headers) return headers.get(name);
  for (const [key, value] of Object.entries(headers as Record<string, string | readonly string[] | undefined>)) {
    if (key.toLowerCase() !== name || value === undefined) continue;
    return typeof value === 'string' ? value : value.join(' ');
  }
  return null;
}

/**
 * Verify a webhook request and return its parsed JSON payload.
 * `rawBody` must be the bytes as received: a re-serialised body will not verify.
 * Any of `secret` may match (rotation). Throws WebhookVerificationError saying what is wrong.
 */
export function verifyWebhook(
  secret: string | readonly string[],
  headers: WebhookHeaderSource,
  rawBody: string | Buffer,
  options: VerifyWebhookOptions = {},
): unknown {
  const secrets = typeof secret === 'string' ? [secret] : secret;
  if (secrets.length === 0) throw new TypeError('at least one webhook secret is needed to verify');
  const keys = secrets.map(webhookSecretKey);

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
  const nowS = Math.floor((options.now ?? Date.now)() / 1000);
  if (nowS - timestamp > toleranceS) throw new WebhookVerificationError(`webhook-timestamp is more than ${toleranceS} s old`);
  if (timestamp - nowS > toleranceS) throw new WebhookVerificationError(`webhook-timestamp is more than ${toleranceS} s in the future`);

  const offered = signatureHeader!
    .split(' ')
    .map((entry) => entry.split(','))
    .filter((parts) => parts[0] === SIGNATURE_VERSION && parts.length === 2 && BASE64.test(parts[1]!))
    .map((parts) => Buffer.from(parts[1]!, 'base64'));
  const matched = keys.some((key) => {
    const expected = signatureBytes(key, msgId!, timestamp, rawBody);
    // Visit every offered signature, so timing says nothing about which one matched.
    let found = false;
    for (const candidate of offered) {
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) found = true;
    }
    return found;
  });
  if (!matched) throw new WebhookVerificationError('no matching signature');

  try {
    return JSON.parse(typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8'));
  } catch {
    throw new WebhookVerificationError('signature matches but the body is not JSON');
  }
}

/** A fresh secret: `whsec_` and the base64 of 32 random bytes. */
export function generateWebhookSecret(random: (size: number) => Uint8Array = randomBytes): string {
  return SECRET_PREFIX + Buffer.from(random(32)).toString('base64');
}
