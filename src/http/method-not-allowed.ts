// Owns: which methods each registered path answers, learnt from every route as it is added, for the 405 Method Not
// Allowed (with Allow) that the not-found handler gives a method a path does not answer; and the 405 each documented
// route declares. Not here: rendering the problem (problem.ts).
// Invariant: a path that some route answers is a 405, never a 404, for any other method; Allow lists exactly the
// methods its routes answer, HEAD with GET. A route answering OPTIONS alone (a CORS preflight for `*`) makes no path exist.

import type { FastifyInstance } from 'fastify';
import FindMyWay from 'find-my-way';
import { Type } from '@sinclair/typebox';
import { problemResponse, requiredHeader } from './schemas.ts';

/** The methods the routes of `path` answer (without query), or [] when no route answers it. */
export type AllowedMethods = (path: string) => readonly string[];

const METHOD_NOT_ALLOWED = problemResponse(405, 'The path does not answer this method', {
  Allow: requiredHeader(Type.String({ description: 'The methods the path answers' })),
});

/** Call before any route is added: it sees only the routes added after it. */
export function trackAllowedMethods(app: FastifyInstance): AllowedMethods {
  // The same matching rules as the app's own router, so a path matches here exactly when it matches there.
  const config = app.initialConfig;
  const router = FindMyWay({
    caseSensitive: config.caseSensitive,
    ignoreTrailingSlash: config.routerOptions?.ignoreTrailingSlash ?? config.ignoreTrailingSlash,
    ignoreDuplicateSlashes: config.routerOptions?.ignoreDuplicateSlashes ?? config.ignoreDuplicateSlashes,
    maxParamLength: config.routerOptions?.maxParamLength ?? config.maxParamLength,
  });
  const declared = new Set<string>();
  const methods = new Set<FindMyWay.HTTPMethod>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      // HEAD is answered wherever GET is (Fastify adds it), so it is derived from GET rather than tracked.
      const key = `${method} ${route.url}`;
      if (method === 'HEAD' || declared.has(key)) continue;
      declared.add(key);
      // Fastify's router is find-my-way too: the methods it takes are the ones this one takes.
      const known = method as FindMyWay.HTTPMethod;
      methods.add(known);
      router.on(known, route.url, () => {});
    }
    const schema = route.schema;
    if (schema !== undefined && schema.hide !== true && schema.response !== undefined && typeof schema.response === 'object') {
      route.schema = { ...schema, response: { 405: METHOD_NOT_ALLOWED, ...(schema.response as object) } };
    }
  });
  return (path) => {
    const allowed: string[] = [];
    for (const method of methods) {
      if (router.find(method, path) === null) continue;
      allowed.push(method);
      if (method === 'GET') allowed.push('HEAD');
    }
    return allowed.some((method) => method !== 'OPTIONS') ? allowed : [];
  };
}
