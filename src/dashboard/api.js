// Owns: how the dashboard talks to the API: the base path it is mounted under, the API key the user typed (kept in
// sessionStorage, sent as `Authorization: Bearer`, never put in a URL), the admin's tenant filter, JSON requests with
// problem details as errors, and an operation's live event stream (with a stream token when there is a key).
// Not here: what a page shows (the page modules), the shell that asks for the key (index.js).

/** @typedef {{ code: string, message: string }} OperationError */
/**
 * @typedef {{ id: string, tenant: string, type: string, status: string, input?: unknown, progress: number | null,
 *   progress_message: string | null, attempt: number, max_attempts: number, priority: number,
 *   concurrency_key: string | null, schedule_id: string | null, created_at: string,
 *   started_at: string | null, finished_at: string | null, updated_at: string, run_at: string, timeout_s: number,
 *   queue_position: number | null, estimated_completion_at: string | null, estimated_seconds_remaining: number | null,
 *   result_url: string | null, error: OperationError | null, last_attempt_error: OperationError | null,
 *   webhook: { url: string, state: string } | null }} Operation
 */
/** @typedef {{ type?: string, title?: string, status?: number, detail?: string, code?: string }} Problem */
/** @typedef {Record<string, string | number | boolean | null | undefined>} Query */

/** No request of the page waits longer than this (none of them long-polls). */
const REQUEST_TIMEOUT_MS = 30_000;
const KEY_ITEM = 'asyncops.dashboard.key';
const TENANT_ITEM = 'asyncops.dashboard.tenant';

/** Where the API answers: '' or a prefix such as `/async`, as the server wrote it into the page. */
export const base = /** @type {HTMLMetaElement | null} */ (document.querySelector('meta[name="asyncops-base"]'))?.content ?? '';

/** The key the user typed this session, or null (a server without keys needs none). */
export const getKey = () => sessionStorage.getItem(KEY_ITEM);
/** @param {string} key */
export const setKey = (key) => sessionStorage.setItem(KEY_ITEM, key);
export const clearKey = () => sessionStorage.removeItem(KEY_ITEM);

/** An admin key's tenant filter ('' for every tenant); ignored for other keys, whose tenant is fixed. */
export const getTenantFilter = () => sessionStorage.getItem(TENANT_ITEM) ?? '';
/** @param {string} tenant */
export const setTenantFilter = (tenant) => (tenant === '' ? sessionStorage.removeItem(TENANT_ITEM) : sessionStorage.setItem(TENANT_ITEM, tenant));

/** What GET /whoami said of the key (the shell tells, the lists ask); null until it has. @type {{ tenant: string, admin: boolean } | null} */
let viewer = null;
/** @param {{ tenant: string, admin: boolean } | null} who */
export const setViewer = (who) => {
  viewer = who;
};
/**
 * Whether a list names each item's tenant: an admin's (a server without keys is one) with no tenant filter, when the
 * list holds some other tenant's than its own (operations, deliveries, bulk actions). @param {ReadonlyArray<{ tenant: string | null }>} items
 */
export const namesTenants = (items) => viewer?.admin === true && getTenantFilter() === '' && items.some((item) => item.tenant !== viewer?.tenant);

/** @type {Set<() => void>} */
const unauthorizedListeners = new Set();
/** The shell listens: any 401 means the key is missing or no longer valid, and the key form comes back. */
export function onUnauthorized(/** @type {() => void} */ listener) {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** A refused request: its HTTP status and problem document (RFC 9457). */
export class ApiError extends Error {
  /** @param {number} status @param {Problem} problem */
  constructor(status, problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** @param {string} path @param {Query} [query] */
export function url(path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  const search = params.toString();
  return `${base}${path}${search === '' ? '' : `?${search}`}`;
}

/** Adds the admin's tenant filter to a query of a route that takes `tenant` (lists, counts, stats). */
export function withTenant(/** @type {Query} */ query = {}) {
  const tenant = getTenantFilter();
  return tenant === '' ? query : { ...query, tenant };
}

function headers(hasBody = false) {
  /** @type {Record<string, string>} */
  const result = { accept: 'application/json, application/problem+json' };
  const key = getKey();
  if (key !== null) result.authorization = `Bearer ${key}`;
  if (hasBody) result['content-type'] = 'application/json';
  return result;
}

/**
 * The JSON answer of a request (null for an empty one); throws ApiError with the problem for any 4xx or 5xx, after
 * telling the shell about a 401.
 * @param {string} path
 * @param {{ method?: string, query?: Query, body?: unknown, signal?: AbortSignal }} [options]
 * @returns {Promise<any>}
 */
export async function request(path, options = {}) {
  const method = options.method ?? 'GET';
  const response = await fetch(url(path, options.query), {
    method,
    headers: headers(options.body !== undefined),
    body: options.body === undefined ? null : JSON.stringify(options.body),
    signal: options.signal === undefined ? AbortSignal.timeout(REQUEST_TIMEOUT_MS) : AbortSignal.any([options.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
    cache: 'no-store',
  });
  const text = await response.text();
  /** @type {any} */
  let body = null;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    body = { detail: text.slice(0, 200) };
  }
  if (!response.ok) {
    if (response.status === 401) for (const listener of unauthorizedListeners) listener();
    throw new ApiError(response.status, body ?? {});
  }
  return body;
}

/** The largest JSON result the page shows as a tree (larger ones are offered to download, saying why). */
export const RESULT_SHOWN_BYTES = 256 * 1024;

/**
 * A completed operation's result: JSON shown as it is; anything else as its type and size, to download.
 * @param {string} id
 * @returns {Promise<{ type: string, size: number, json: unknown, blob: Blob, tooLargeToShow: boolean }>}
 */
export async function fetchResult(id) {
  const response = await fetch(url(`/operations/${encodeURIComponent(id)}/result`), { headers: headers(), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  if (!response.ok) {
    if (response.status === 401) for (const listener of unauthorizedListeners) listener();
    throw new ApiError(response.status, await response.json().catch(() => ({})));
  }
  const blob = await response.blob();
  const type = response.headers.get('content-type') ?? 'application/octet-stream';
  let json;
  // application/json and +json types only (not x-ndjson, lines of JSON); a body that does not parse is offered to download.
  const isJson = /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i.test(type);
  if (isJson && blob.size <= RESULT_SHOWN_BYTES) {
    try {
      json = JSON.parse(await blob.text());
    } catch {
      json = undefined;
    }
  }
  return { type, size: blob.size, json, blob, tooLargeToShow: isJson && blob.size > RESULT_SHOWN_BYTES };
}

/**
 * The operation's event stream. An EventSource cannot send Authorization, so with a key the page first asks for a
 * short-lived stream token for this one operation (the key itself never goes into the URL).
 * @param {string} id
 */
export async function openEvents(id) {
  const path = `/operations/${encodeURIComponent(id)}`;
  if (getKey() === null) return new EventSource(url(`${path}/events`));
  const { token } = await request(`${path}/stream-token`, { method: 'POST' });
  return new EventSource(url(`${path}/events`, { token }));
}
