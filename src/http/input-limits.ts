// Owns: limits on the shape of a request that a JSON schema cannot state for every route: a parsed body's nesting
// depth, no NUL in a query parameter, and each query parameter a route takes given once. Not here: body size (Fastify's
// bodyLimit), field ranges (route schemas and runtime/submission.ts). Invariant: a body nested deeper than the limit is
// a 400 naming the first path that goes too deep, before any validator or handler walks it recursively; a query value
// with a NUL is a 400 before any store reads it (PostgreSQL text refuses NUL, so a filter holding one would fail there
// instead of matching nothing); a query parameter of the route's given twice is one 400 naming it, not the validator's
// errors for an array where it takes one value.

import type { FastifyInstance } from 'fastify';
import { AsyncOpsError } from '../domain/errors.ts';
import { shownPointer } from '../domain/json-values.ts';
import { pointerTo } from '../json/unkept-values.ts';

/** The JSON pointer of the first container nested deeper than `maxDepth` (the body itself is depth 1), or null. */
export function tooDeepPath(value: unknown, maxDepth: number): string | null {
  // Iterative, so a hostile body cannot overflow the stack here.
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value, path: '', depth: 1 }];
  while (stack.length > 0) {
    const { value: node, path, depth } = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth > maxDepth) return path || '/';
    const entries = Array.isArray(node) ? node.map((v, i) => [String(i), v] as const) : Object.entries(node);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      if (child !== null && typeof child === 'object') stack.push({ value: child, path: pointerTo(path, key), depth: depth + 1 });
    }
  }
  return null;
}

/** The name of the first query parameter whose value holds a NUL, or null. */
export function queryWithNul(query: unknown): string | null {
  if (query === null || typeof query !== 'object') return null;
  for (const [name, value] of Object.entries(query)) {
    const values: unknown[] = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === 'string' && v.includes('\u0000'))) return name;
  }
  return null;
}

/**
 * The name of the first query parameter given more than once that the route takes (`declared`: its query schema's
 * properties; none takes a list), or null. One it does not take is the validator's to refuse, as when given once.
 */
export function repeatedQueryParameter(query: unknown, declared: Readonly<Record<string, unknown>> | undefined): string | null {
  if (query === null || typeof query !== 'object' || declared === undefined) return null;
  for (const [name, value] of Object.entries(query)) if (Array.isArray(value) && Object.hasOwn(declared, name)) return name;
  return null;
}

const queryProblem = (name: string, detail: string, message: string) =>
  new AsyncOpsError('validation_failed', `query parameter ${name.slice(0, 64)} ${detail}`, {
    errors: [{ path: pointerTo('/query', name.slice(0, 64)), message }],
  });

/** The 400 for a query parameter given more than once (the routes take none as a list). */
export const repeatedQueryProblem = (name: string): AsyncOpsError => queryProblem(name, 'is given more than once', 'must be given once');

export function installBodyDepthLimit(app: FastifyInstance, maxDepth: number): void {
  // A callback hook, not an async one: it runs on every request, most of which (status reads) have no body.
  app.addHook('preValidation', (request, _reply, done) => {
    const nulIn = queryWithNul(request.query);
    if (nulIn !== null) {
      done(queryProblem(nulIn, 'holds a NUL character', 'must not hold a NUL character'));
      return;
    }
    const querySchema = request.routeOptions.schema?.querystring as { properties?: Record<string, unknown> } | undefined;
    const repeated = repeatedQueryParameter(request.query, querySchema?.properties);
    if (repeated !== null) {
      done(repeatedQueryProblem(repeated));
      return;
    }
    const path = request.body === undefined ? null : tooDeepPath(request.body, maxDepth);
    if (path === null) return done();
    const shown = shownPointer(path);
    done(
      new AsyncOpsError('validation_failed', `the body is nested deeper than ${maxDepth} levels`, {
        errors: [{ path: shown, message: `is nested deeper than ${maxDepth} levels` }],
      }),
    );
  });
}
