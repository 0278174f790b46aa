// Owns: which methods each registered path answers, learnt from every route as it is added, for the 405 Method Not
// Allowed (with Allow) that the not-found handler gives a method a path does not answer; and the 405 each documented
// route declares. Not here: rendering the problem (problem.ts).
// Invariant: a path that some route answers is a 405, never a 404, for any other method; Allow lists exactly the
// methods its routes answer, HEAD with GET; a path a static route answers is that resource, whose other methods are a
// 405 too, not a parametric sibling's (`GET /reports/async` is no report `async`). A route answering OPTIONS alone (a CORS preflight for `*`) makes no path exist.

import type { FastifyInstance } from 'fastify';
import FindMyWay from 'find-my-way';
import { Type } from '@sinclair/typebox';
import { problemResponse, requiredHeader } from './schemas.ts';

/** The methods the routes of `path` answer (without query), or [] when no route answers it. */
export type AllowedMethods = (path: string) => readonly string[];

/**
 * The methods a path's own routes answer, and for a path a static route answers (`/operations/counts`) whose other
 * methods would fall to a parametric sibling's (`/operations/:id`) what to answer instead: those methods are not the
 * path's, whose `counts` is no operation's id.
 */
export interface RouteMethods {
  readonly allowed: AllowedMethods;
  /** For a request a parametric route took: the methods its path's static routes answer, or null when it has none. */
  readonly staticAllowed: (path: string) => readonly string[] | null;
}

const METHOD_NOT_ALLOWED = problemResponse(405, 'The path does not answer this method', {
  Allow: requiredHeader(Type.String({ description: 'The methods the path answers' })),
});

/** A route whose path has a parameter: a static route beside it for the same path is the more specific one. */
const parametric = (url: string): boolean => url.includes(':');
/** A route of one fixed path (no parameter, no wildcard), other than a preflight's: that path is its resource. */
const fixedPath = (url: string, method: string): boolean => !parametric(url) && !url.includes('*') && method !== 'OPTIONS';

/** Call before any route is added: it sees only the routes added after it. */
export function trackAllowedMethods(app: FastifyInstance): RouteMethods {
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
  // The fixed routes' paths as the router compares them (compared, below): a request a parametric route took (every
  // status GET) is told apart with one Set lookup.
  const staticPaths = new Set<string>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      // HEAD is answered wherever GET is (Fastify adds it), so it is derived from GET rather than tracked.
      const key = `${method} ${route.url}`;
      if (method === 'HEAD' || declared.has(key)) continue;
      declared.add(key);
      // Fastify's router is find-my-way too: the methods it takes are the ones this one takes.
      const known = method as FindMyWay.HTTPMethod;
      methods.add(known);
      router.on(known, route.url, () => {}, { url: route.url });
      if (fixedPath(route.url, method)) staticPaths.add(compared(route.url));
    }
    const schema = route.schema;
    if (schema !== undefined && schema.hide !== true && schema.response !== undefined && typeof schema.response === 'object') {
      route.schema = { ...schema, response: { 405: METHOD_NOT_ALLOWED, ...(schema.response as object) } };
    }
  });
  const allowed = (path: string): readonly string[] => {
    const matched: Array<{ method: string; url: string }> = [];
    for (const method of methods) {
      const found = router.find(method, path);
      if (found !== null) matched.push({ method, url: (found.store as { url: string }).url });
    }
    // A static route for the path makes the path that resource: a parametric sibling's methods are not its own.
    const exact = matched.some((m) => fixedPath(m.url, m.method));
    const own = exact ? matched.filter((m) => !parametric(m.url)) : matched;
    const list: string[] = [];
    for (const m of own) {
      list.push(m.method);
      if (m.method === 'GET') list.push('HEAD');
    }
    return list.some((method) => method !== 'OPTIONS') ? list : [];
  };
  const caseSensitive = config.caseSensitive !== false;
  const ignoreTrailingSlash = (config.routerOptions?.ignoreTrailingSlash ?? config.ignoreTrailingSlash) === true;
  const ignoreDuplicateSlashes = (config.routerOptions?.ignoreDuplicateSlashes ?? config.ignoreDuplicateSlashes) === true;
  const compared = (path: string): string => {
    let key = caseSensitive ? path : path.toLowerCase();
    if (ignoreDuplicateSlashes) key = key.replace(/\/{2,}/g, '/');
    if (ignoreTrailingSlash && key.length > 1) key = key.replace(/\/+$/, '');
    return key;
  };
  const staticAllowed = (path: string): readonly string[] | null => (staticPaths.has(compared(path)) ? allowed(path) : null);
  return { allowed, staticAllowed };
}
