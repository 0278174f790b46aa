// Owns: what every page shares: the `html` template tag (htm over Preact), the hash router (#/path?query: filters
// live in the URL, keys never do), polling that stops with the page or the tab, and small views: status badges,
// times, durations, errors, JSON. Not here: talking to the API (api.js), any one page.

import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';

export const html = htm.bind(h);

/** @typedef {{ path: string, query: URLSearchParams }} Route */

/** @returns {Route} */
function currentRoute() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path = '/', search = ''] = hash.split('?');
  return { path, query: new URLSearchParams(search) };
}

/** The route in the location's hash; the page re-renders when it changes. */
export function useRoute() {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const onChange = () => setRoute(currentRoute());
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** A hash link to `path` with the query's non-empty values. @param {string} path @param {Record<string, string | undefined>} [query] */
export function href(path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(name, value);
  const search = params.toString();
  return `#${path}${search === '' ? '' : `?${search}`}`;
}

/** @param {string} path @param {Record<string, string | undefined>} [query] */
export const navigate = (path, query) => {
  location.hash = href(path, query);
};

/**
 * Calls `tick` now and every `ms` while the page is shown and the tab visible; a change of `deps` starts over.
 * @param {(signal: AbortSignal) => Promise<void> | void} tick
 * @param {number} ms
 * @param {unknown[]} deps
 */
export function usePoll(tick, ms, deps) {
  const latest = useRef(tick);
  latest.current = tick;
  // Restarts when the caller's deps change (a new filter, a new page), not when `tick` is a new closure.
  useEffect(() => {
    const controller = new AbortController();
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    const run = async () => {
      if (!document.hidden) {
        try {
          await latest.current(controller.signal);
        } catch {
          // The page shows its own error from its last answer; polling carries on.
        }
      }
      if (!controller.signal.aborted) timer = setTimeout(run, ms);
    };
    run();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, deps);
}

/**
 * Paging through a list by its cursors: those of the pages before the one shown, for Previous (the current page's is
 * the last). Mount it afresh for each filter, so a cursor never outlives the list it came from.
 */
export function usePager() {
  const [cursors, setCursors] = useState(/** @type {string[]} */ ([]));
  return {
    /** The cursor of the page to read (undefined: the first). */
    cursor: cursors.at(-1),
    depth: cursors.length,
    previous: () => setCursors(cursors.slice(0, -1)),
    /** @param {string} next */
    next: (next) => setCursors([...cursors, next]),
  };
}

/**
 * A pager (as usePager) whose cursors are kept in the page's address (`pages`, comma-separated: a cursor has no comma),
 * so Back, a reload or a shared link comes back to the page shown. Its component is mounted afresh for each address
 * (index.js keys the page by its query), so the cursors are read from the query alone.
 * @param {string} path @param {URLSearchParams} query
 * @returns {ReturnType<typeof usePager>}
 */
export function useAddressPager(path, query) {
  const cursors = (query.get('pages') ?? '').split(',').filter((cursor) => cursor !== '');
  const go = (/** @type {string[]} */ next) => navigate(path, { ...Object.fromEntries(query), pages: next.join(',') });
  return {
    cursor: cursors.at(-1),
    depth: cursors.length,
    previous: () => go(cursors.slice(0, -1)),
    next: (/** @type {string} */ cursor) => go([...cursors, cursor]),
  };
}

/**
 * Previous and Next; Next is offered once the page shown is the one asked for (a second click while the next page is
 * on its way would ask for the same one again).
 * @param {{ pager: ReturnType<typeof usePager>, page: { next_cursor?: string | null, cursor?: string | undefined } | null }} props
 */
export function Pager({ pager, page }) {
  const shown = page !== null && page.cursor === pager.cursor;
  const next = shown ? (page.next_cursor ?? null) : null;
  return html`<nav class="pager">
    <button type="button" disabled=${pager.depth === 0} onClick=${pager.previous}>Previous</button>
    <button type="button" disabled=${next === null} onClick=${() => next !== null && pager.next(next)}>Next</button>
  </nav>`;
}

/**
 * A form's fields as the user is typing them, apart from what the page last applied: a page that re-renders on
 * each poll must not put back a field's old value under the user's cursor. `bind(name)` gives an input or select
 * its name, value and input handler; `values()` the non-empty fields, trimmed.
 * @param {Record<string, string>} initial
 */
export function useDraft(initial) {
  const [draft, setDraft] = useState(initial);
  /** @param {string} name */
  const bind = (name) => ({
    name,
    value: draft[name] ?? '',
    /** @param {Event} event */
    onInput: (event) => {
      const value = /** @type {HTMLInputElement | HTMLSelectElement} */ (event.currentTarget).value;
      setDraft((current) => ({ ...current, [name]: value }));
    },
  });
  const values = () => {
    /** @type {Record<string, string>} */
    const result = {};
    for (const [name, value] of Object.entries(draft)) if (value.trim() !== '') result[name] = value.trim();
    return result;
  };
  return { bind, values };
}

/** @param {{ status: string }} props */
export function StatusBadge({ status }) {
  return html`<span class=${`badge status-${status}`} data-status=${status}>${status}</span>`;
}

/** @param {string | null | undefined} iso */
export function formatTime(iso) {
  if (iso === null || iso === undefined) return '—';
  const date = new Date(iso);
  // With its zone: the CLI and the logs write UTC, and an operator matches the two.
  return date.toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    timeZoneName: 'short',
  });
}

/** The time of day to the millisecond, for events seconds apart. @param {string} iso */
export function formatClock(iso) {
  const date = new Date(iso);
  return `${date.toLocaleTimeString(undefined, { hour12: false })}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/** "3 s ago", "in 2 min". @param {string | null | undefined} iso */
export function relativeTime(iso, now = Date.now()) {
  if (iso === null || iso === undefined) return '—';
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const text = formatDuration(Math.abs(seconds) * 1000);
  return seconds <= 0 ? `${text} ago` : `in ${text}`;
}

/** @param {number | null | undefined} ms */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  // Each unit is chosen after rounding to it, so 999.6 ms is "1.0 s" and 119.6 s "2 min 0 s", not "1000 ms" or "1 min 60 s".
  if (Math.round(ms) < 1000) return `${Math.round(ms)} ms`;
  const tenths = Math.round(ms / 100) / 10;
  if (tenths < 10) return `${tenths.toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** @param {number | null | undefined} ratio */
export const percent = (ratio) => (ratio === null || ratio === undefined ? '—' : `${(ratio * 100).toFixed(ratio < 0.1 && ratio > 0 ? 1 : 0)} %`);

/** @param {number | null | undefined} n */
export const count = (n) => (n === null || n === undefined ? '—' : n.toLocaleString());

/** A request's failure as the user should read it. @param {{ error: unknown }} props */
export function ErrorNote({ error }) {
  if (error === null || error === undefined) return null;
  const e = /** @type {{ message?: string, status?: number, problem?: { code?: string } }} */ (error);
  const code = e.problem?.code;
  return html`<p class="error" role="alert">${e.message ?? String(error)}${code ? html` <code>${code}</code>` : null}</p>`;
}

/** @param {{ value: unknown }} props */
export function Json({ value }) {
  return html`<pre class="json">${value === undefined ? '—' : JSON.stringify(value, null, 2)}</pre>`;
}

/** @param {{ value: number | null }} props */
export function Progress({ value }) {
  if (value === null) return html`<span class="muted">—</span>`;
  const whole = Math.round(value * 100);
  // A bar's width says nothing to a screen reader: the role and value do.
  return html`<span class="progress" role="progressbar" aria-label="progress" aria-valuemin="0" aria-valuemax="100" aria-valuenow=${whole} aria-valuetext=${percent(value)} title=${percent(value)}
    ><span class="bar" style=${`width: ${whole}%`}></span
  ></span>`;
}

/**
 * A datetime-local input's value as RFC 3339 (the API's form), or undefined when empty.
 * @param {string | null | undefined} local
 */
export function toIso(local) {
  if (local === null || local === undefined || local === '') return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}
