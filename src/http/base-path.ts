// Owns: where the API is mounted (its base path, `''` or a prefix such as `/async`): checking one as given, and a
// request's path within the API, which the rules that name paths (open routes, caching, stream tokens) compare.
// Invariant: a base path is '' or starts with '/' and does not end with one; the API's own paths always start with '/'.

// No `%`: the router matches decoded paths, so routes under `/a%20b` would answer nothing (every request a bare 404).
const SEGMENT = /^[A-Za-z0-9._~!$&'()+,;=@-]+$/;

/** `prefix` as a base path: '' for none or '/', else '/a/b' with no trailing slash. Throws a TypeError for anything else. */
export function basePathOf(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '' || prefix === '/') return '';
  const trimmed = prefix.replace(/\/+$/, '');
  const segments = trimmed.split('/').slice(1);
  if (!trimmed.startsWith('/') || segments.some((s) => !SEGMENT.test(s) || s === '.' || s === '..')) {
    throw new TypeError(`prefix "${prefix}" must be a path such as /async: segments of URL path characters, no wildcards, parameters or percent-escapes`);
  }
  return trimmed;
}

/** The path of `url` (its query left out) within the API mounted at `basePath`; a path outside it is returned whole. */
export function pathWithin(basePath: string, url: string): string {
  const path = url.split('?')[0] ?? '';
  if (basePath === '') return path;
  if (path === basePath) return '/';
  return path.startsWith(`${basePath}/`) ? path.slice(basePath.length) : path;
}

/** Whether `url` is in the API mounted at `basePath`. */
export function isUnder(basePath: string, url: string): boolean {
  if (basePath === '') return true;
  const path = url.split('?')[0] ?? '';
  return path === basePath || path.startsWith(`${basePath}/`);
}
