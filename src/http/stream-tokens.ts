// Owns: stream tokens, how a browser streams with a key: an EventSource cannot send Authorization, so a page asks
// POST /operations/{id}/stream-token (with its key) for a short-lived HMAC-signed grant and opens ?token= with it.
// Invariant: a token opens one operation's event stream, for its tenant, until it expires, and nothing else.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Type, type Static } from '@sinclair/typebox';
import type { Clock } from '../domain/clock.ts';
import type { OperationsService } from '../runtime/operations.ts';
import { OperationIdParams, ReadScopeQuery, jsonResponse, problemResponses } from './schemas.ts';
import { principalOf, readScope } from './tenant.ts';
import { repeatedQueryProblem } from './input-limits.ts';

/** Long enough to open the stream (and ride out a reconnect or two); short enough that a token in a log is stale. */
export const STREAM_TOKEN_TTL_MS = 5 * 60_000;
/** The only route that takes a token; on every other one `?token=` is an unknown parameter and opens nothing. */
export const EVENTS_ROUTE = '/operations/:id/events';
/** The HMAC key's setting: kept in the store, so a token minted on one node opens a stream on any other. */
export const STREAM_TOKEN_SECRET_SETTING = 'stream_token_secret';

const PREFIX = 'st1';
/** Signed with the payload, so no other HMAC made with this key can pass for a token. */
const CONTEXT = 'asyncops stream token v1\n';
const MAX_TOKEN_LENGTH = 2048;

/** Who a token lets in: the tenant and principal (the key's, for stream and rate limits) of the key that minted it. */
export interface StreamGrant {
  readonly tenant: string;
  readonly principal: string;
}

interface Payload {
  readonly t: string;
  readonly o: string;
  readonly p: string;
  readonly e: number;
}

/** Where the HMAC key is kept (main.ts passes the store): the value kept under `key`, or `initial`, now kept. */
export interface KeptSettings {
  settingGetOrInit(key: string, initial: string): Promise<string>;
}

export interface StreamTokenOptions {
  /** The HMAC key; asked for on first use and kept. */
  readonly secret: () => Promise<Buffer>;
  readonly clock: Clock;
  readonly ttlMs?: number;
}

export class StreamTokens {
  readonly #options: StreamTokenOptions;
  readonly #ttlMs: number;
  #secret: Promise<Buffer> | null = null;

  /** Tokens signed with a key kept in the store (generated on first use), so every node on the store accepts them. */
  static inStore(store: KeptSettings, clock: Clock, ttlMs?: number): StreamTokens {
    const secret = async () => Buffer.from(await store.settingGetOrInit(STREAM_TOKEN_SECRET_SETTING, randomBytes(32).toString('base64')), 'base64');
    return new StreamTokens({ secret, clock, ...(ttlMs === undefined ? {} : { ttlMs }) });
  }

  constructor(options: StreamTokenOptions) {
    this.#options = options;
    this.#ttlMs = options.ttlMs ?? STREAM_TOKEN_TTL_MS;
  }

  async mint(grant: StreamGrant, operationId: string): Promise<{ token: string; expiresAt: Date }> {
    const expiresAt = this.#options.clock.now() + this.#ttlMs;
    const payload: Payload = { t: grant.tenant, o: operationId, p: grant.principal, e: expiresAt };
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return { token: `${PREFIX}.${body}.${(await this.#sign(body)).toString('base64url')}`, expiresAt: new Date(expiresAt) };
  }

  /** The grant of a token for this operation's stream, or null: malformed, forged, for another operation, or expired. */
  async verify(token: string, operationId: string): Promise<StreamGrant | null> {
    if (token.length > MAX_TOKEN_LENGTH) return null;
    const [prefix, body, signature, ...rest] = token.split('.');
    if (prefix !== PREFIX || body === undefined || signature === undefined || rest.length > 0) return null;
    const expected = await this.#sign(body);
    const presented = Buffer.from(signature, 'base64url');
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return null;
    let payload: Partial<Payload>;
    try {
      payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Partial<Payload>;
    } catch {
      return null;
    }
    if (typeof payload.t !== 'string' || typeof payload.p !== 'string' || typeof payload.e !== 'number' || payload.o !== operationId) return null;
    if (this.#options.clock.now() >= payload.e) return null;
    return { tenant: payload.t, principal: payload.p };
  }

  /**
   * What a request's `?token=` grants: undefined when it has none or is not on the events route (the caller then
   * wants a key), null when the token does not open this stream.
   */
  async grantFor(request: FastifyRequest, basePath = ''): Promise<StreamGrant | null | undefined> {
    // HEAD answers what GET would (the stream's headers), so the token opens it too.
    if (request.routeOptions.url !== basePath + EVENTS_ROUTE || (request.method !== 'GET' && request.method !== 'HEAD')) return undefined;
    const token = (request.query as { token?: unknown } | undefined)?.token;
    // Given twice, it is the 400 a key's request gets (by the route's schema), not a 401 saying no key was sent.
    if (Array.isArray(token)) throw repeatedQueryProblem('token');
    if (typeof token !== 'string' || token === '') return undefined;
    const id = (request.params as { id?: unknown } | undefined)?.id;
    return typeof id === 'string' ? this.verify(token, id) : null;
  }

  async #sign(body: string): Promise<Buffer> {
    return createHmac('sha256', await this.#key())
      .update(CONTEXT)
      .update(body)
      .digest();
  }

  #key(): Promise<Buffer> {
    // A failed read (the store down) is not kept: the next request asks again.
    this.#secret ??= this.#options.secret().catch((error: unknown) => {
      this.#secret = null;
      throw error;
    });
    return this.#secret;
  }
}

/** `/operations/op_…/events?token=…` as a log may show it: the token's value replaced, the rest kept. */
export function withoutStreamToken(url: string): string {
  const query = url.indexOf('?');
  if (query < 0) return url;
  return url.slice(0, query) + url.slice(query).replace(/([?&]token=)[^&#]*/gi, '$1[REDACTED]');
}

/**
 * The logger for the HTTP app: Fastify's request serializer (method, url, host, address, port), with the URL's token
 * redacted. Request logging is off, but any line that carries a request (an error's, a future access log) is safe.
 */
export function safeRequestLogger(logger: Logger): Logger {
  const req = (request: FastifyRequest) => ({
    method: request.method,
    url: withoutStreamToken(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  });
  return logger.child({}, { serializers: { req } });
}

const StreamTokenSchema = Type.Object({
  token: Type.String({ description: 'Give it as `?token=` to GET /operations/{id}/events; it opens that stream only, until expires_at' }),
  expires_at: Type.String({ format: 'date-time' }),
});

export function registerStreamTokenRoute(app: FastifyInstance, service: OperationsService, tokens: StreamTokens): void {
  app.post<{ Params: Static<typeof OperationIdParams> }>('/operations/:id/stream-token', {
    schema: {
      tags: ['operations'],
      operationId: 'createStreamToken',
      summary: "A short-lived token to stream this operation's events from a browser",
      description: `An EventSource cannot send Authorization. Ask for a token with your key, then open \`/operations/{id}/events?token=…\`: the token opens that stream, for your tenant, for ${STREAM_TOKEN_TTL_MS / 60_000} minutes (a stream already open is not cut when it expires). It is not your key and opens nothing else, so a URL that ends up in a log gives away little. A server without API keys needs no token.`,
      params: OperationIdParams,
      querystring: ReadScopeQuery,
      response: { 200: jsonResponse(StreamTokenSchema, 'The token and when it expires'), ...problemResponses(400, 403, 404) },
    },
    handler: async (request, reply) => {
      // Only for an operation this key can read (an admin's: any tenant's, and the token is for that tenant's stream).
      const view = await service.get(readScope(request), request.params.id);
      const minted = await tokens.mint({ tenant: view.operation.tenant, principal: principalOf(request) }, view.operation.id);
      return reply.header('cache-control', 'no-store').send({ token: minted.token, expires_at: minted.expiresAt.toISOString() });
    },
  });
}
