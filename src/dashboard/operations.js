// Owns: the Operations page: the list filtered by status, type, error code and created range, or found by id or
// idempotency key (GET /operations), a page at a time; it reloads when the counts move (polled: cheap). The filters
// live in the URL's hash, so a filtered list can be shared (a key never is).

import { useState } from 'preact/hooks';
import { namesTenants, request, withTenant } from './api.js';
import { ErrorNote, Pager, Progress, StatusBadge, html, href, navigate, relativeTime, toIso, useAddressPager, useDraft, usePoll } from './ui.js';

export const STATUSES = ['pending', 'processing', 'completed', 'failed', 'cancelled'];
const FILTERS = ['status', 'type', 'error_code', 'created_after', 'created_before', 'q'];
const PAGE_SIZE = 25;
const POLL_MS = 3000;
const REFRESH_MS = 30_000;

/** The list's filters from the route's query. @param {URLSearchParams} query */
export function filtersOf(query) {
  /** @type {Record<string, string>} */
  const filters = {};
  for (const name of FILTERS) {
    const value = query.get(name);
    if (value !== null && value !== '') filters[name] = value;
  }
  return filters;
}

/** The API's query for those filters: created range as RFC 3339. @param {Record<string, string>} filters */
export function apiFilters(filters) {
  return { ...filters, created_after: toIso(filters.created_after), created_before: toIso(filters.created_before) };
}

/** The registered task types, for the type filters. */
export function useTaskTypes() {
  const [types, setTypes] = useState(/** @type {string[]} */ ([]));
  usePoll(
    async (signal) => {
      const page = await request('/task-types', { signal });
      setTypes(page.items.map((/** @type {{ type: string }} */ t) => t.type));
    },
    60_000,
    [],
  );
  return types;
}

/**
 * The filter form; `onApply` gets the filters as typed (times as the inputs hold them).
 * @param {{ filters: Record<string, string>, types: string[], statuses?: string[], search?: boolean, onApply: (filters: Record<string, string>) => void }} props
 */
export function FilterForm({ filters, types, statuses = STATUSES, search = true, onApply }) {
  const { bind, values } = useDraft(filters);
  /** @param {SubmitEvent} event */
  const submit = (event) => {
    event.preventDefault();
    onApply(values());
  };
  return html`<form class="filters" onSubmit=${submit} data-testid="filters">
    ${
      statuses.length > 1
        ? html`<label>status <select ...${bind('status')}>
            <option value="">any</option>
            ${statuses.map((s) => html`<option value=${s}>${s}</option>`)}
          </select></label>`
        : null
    }
    <label>type <select ...${bind('type')}>
      <option value="">any</option>
      ${[...new Set([...types, ...(filters.type ? [filters.type] : [])])].map((t) => html`<option value=${t}>${t}</option>`)}
    </select></label>
    <label>error code <input ...${bind('error_code')} size="14" placeholder="e.g. handler_error" /></label>
    <label>created after <input type="datetime-local" step="1" ...${bind('created_after')} /></label>
    <label>created before <input type="datetime-local" step="1" ...${bind('created_before')} /></label>
    ${search ? html`<label>id or idempotency key <input ...${bind('q')} size="30" placeholder="op_… or a key" /></label>` : null}
    <button type="submit">Apply</button>
    <a class="button secondary" href=${href(location.hash.replace(/^#/, '').split('?')[0] ?? '/')}>Clear</a>
  </form>`;
}

/** Mounted afresh for each filter (index.js keys it by the query), so a page cursor never outlives its filter. @param {{ query: URLSearchParams }} props */
export function OperationsList({ query }) {
  const filters = filtersOf(query);
  const types = useTaskTypes();
  const pager = useAddressPager('/operations', query);
  const [page, setPage] = useState(
    /** @type {{ items: import('./api.js').Operation[], next_cursor: string | null, cursor: string | undefined } | null} */ (null),
  );
  const [error, setError] = useState(/** @type {unknown} */ (null));
  // What the shown page was read after: the counts, the filter and the page; and when.
  const [seen, setSeen] = useState({ fingerprint: '', at: 0 });
  const key = JSON.stringify(filters);
  const cursor = pager.cursor;

  usePoll(
    async (signal) => {
      try {
        const counts = (await request('/operations/counts', { query: withTenant(), signal })).items;
        const fingerprint = JSON.stringify([counts, key, cursor]);
        // Read again when an operation changed status (the counts moved), or now and then for progress.
        if (fingerprint === seen.fingerprint && Date.now() - seen.at < REFRESH_MS) return;
        setPage({ ...(await request('/operations', { query: withTenant({ ...apiFilters(filters), limit: PAGE_SIZE, cursor }), signal })), cursor });
        setSeen({ fingerprint, at: Date.now() });
        setError(null);
      } catch (e) {
        if (!signal.aborted) setError(e);
      }
    },
    POLL_MS,
    [key, cursor],
  );

  /** @param {Record<string, string>} next */
  const apply = (next) => navigate('/operations', next);
  return html`<section class="page operations">
    <h1>Operations</h1>
    <${FilterForm} key=${key} filters=${filters} types=${types} onApply=${apply} />
    <${ErrorNote} error=${error} />
    <${OperationTable} items=${page?.items ?? null} failed=${error !== null} />
    <${Pager} pager=${pager} page=${page} />
  </section>`;
}

/**
 * `failed`: the read failed (its error is shown above), so nothing is loading.
 * @param {{ items: import('./api.js').Operation[] | null, failed?: boolean, actions?: (op: import('./api.js').Operation) => unknown }} props
 */
export function OperationTable({ items, failed = false, actions }) {
  if (items === null) return failed ? null : html`<p class="muted">Loading…</p>`;
  const tenants = namesTenants(items);
  return html`<table class="grid" data-testid="operations-table">
    <thead>
      <tr><th>id</th>${tenants ? html`<th>tenant</th>` : null}<th>type</th><th>status</th><th>progress</th><th class="num">attempt</th><th>created</th><th>updated</th><th>error</th>${actions ? html`<th></th>` : null}</tr>
    </thead>
    <tbody>
      ${items.length === 0 ? html`<tr><td colspan="10" class="muted">No operations match.</td></tr>` : null}
      ${items.map(
        (op) => html`<tr key=${op.id} data-id=${op.id}>
          <td><a class="mono" href=${href(`/operations/${op.id}`)}>${op.id}</a></td>
          ${tenants ? html`<td data-testid="tenant">${op.tenant}</td>` : null}
          <td>${op.type}</td>
          <td><${StatusBadge} status=${op.status} /></td>
          <td><${Progress} value=${op.progress} /></td>
          <td class="num">${op.attempt} / ${op.max_attempts}</td>
          <td title=${op.created_at}>${relativeTime(op.created_at)}</td>
          <td title=${op.updated_at}>${relativeTime(op.updated_at)}</td>
          <td>${op.error ? html`<code title=${op.error.message}>${op.error.code}</code>` : ''}</td>
          ${actions ? html`<td>${actions(op)}</td>` : null}
        </tr>`,
      )}
    </tbody>
  </table>`;
}
