// Owns: request rate limits per principal (API key, or client address without keys), in two classes: `create`
// (routes that create operations, marked with config.rateClass) and `read` (every other route: status polls,
// lists, results, cancels). Over the limit: 429 problem with Retry-After and RateLimit-* headers.
// Not here: who the principal is (auth.ts); concurrent SSE streams (events-route.ts).
// Invariant: a request counts once, when it arrives, however long it is held (long-poll, Prefer: wait).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { AsyncOpsError } from '../domain/errors.ts';
import { isOpenRoute } from './auth.ts';
import { pathWithin } from './base-path.ts';
import { principalOf } from './tenant.ts';
import type { Rate } from '../config/values.ts';

export type RateClass = 'create' | 'read';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The rate-limit class of a route; routes without one are `read`. */
    rateClass?: RateClass;
  }
}

export interface RateLimits {
  /** Null: unlimited. */
  readonly create: Rate | null;
  readonly read: Rate | null;
}

export const NO_RATE_LIMITS: RateLimits = { create: null, read: null };

const classOf = (request: FastifyRequest): RateClass => request.routeOptions.config?.rateClass ?? 'read';

export async function installRateLimits(app: FastifyInstance, limits: RateLimits): Promise<void> {
  if (limits.create === null && limits.read === null) return;
  const rateOf = (request: FastifyRequest): Rate => limits[classOf(request)] ?? { max: Number.MAX_SAFE_INTEGER, windowMs: 1000 };
  await app.register(rateLimit, {
    global: true,
    // RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset (the IETF draft's names) and Retry-After.
    enableDraftSpec: true,
    cache: 10_000,
    allowList: (request) => isOpenRoute(pathWithin(app.prefix, request.url)) || limits[classOf(request)] === null,
    keyGenerator: (request) => `${classOf(request)} ${principalOf(request)}`,
    max: (request) => rateOf(request).max,
    timeWindow: (request) => rateOf(request).windowMs,
    // Thrown, so the one problem handler renders it (and repeats Retry-After).
    errorResponseBuilder: (request, context) => {
      const retryAfter = Math.max(1, Math.ceil(context.ttl / 1000));
      return new AsyncOpsError('rate_limited', `over the ${classOf(request)} rate limit of ${context.max} requests per window; retry in ${retryAfter} s`, {
        extra: { retry_after: retryAfter },
      });
    },
  });
}
