// Owns: the Dead letters page: failed operations and dead webhook deliveries, each with a filter, a retry or replay
// of one, and a bulk retry / replay of everything the filter matches (POST /bulk-actions): a dry run shows the count
// first, the user confirms, then the bulk action's own progress is followed until it ends. The recent bulk actions.

import { useEffect, useRef, useState } from 'preact/hooks';
import { namesTenants, request, withTenant } from './api.js';
import { FilterForm, OperationTable, apiFilters, filtersOf, useTaskTypes } from './operations.js';
import { ErrorNote, Pager, count, formatTime, html, navigate, relativeTime, toIso, useDraft, usePager, usePoll } from './ui.js';

/**
 * @typedef {{ id: string, action: string, filter: Record<string, unknown>, status: string, total: number | null,
 *   processed: number, succeeded: number, skipped: number, created_by: string | null, tenant: string | null,
 *   created_at: string, started_at: string | null, finished_at: string | null, error: import('./api.js').OperationError | null }} BulkAction
 */

const POLL_MS = 3000;
const NOUNS = { retry: ['failed operation', 'failed operations'], replay_deliveries: ['dead delivery', 'dead deliveries'] };
const VERB = { retry: 'Retry', replay_deliveries: 'Replay' };

/** A bulk action's numbers in a line. @param {BulkAction} b */
const progressOf = (b) => `${count(b.processed)} of ${count(b.total)} processed: ${count(b.succeeded)} done, ${count(b.skipped)} skipped`;

/**
 * "Retry all matching": a dry run for the count, a confirmation, then the action followed to its end.
 * @param {{ action: 'retry' | 'replay_deliveries', filter: Record<string, unknown>, onDone: () => void }} props
 */
function BulkButton({ action, filter, onDone }) {
  const [step, setStep] = useState(/** @type {'idle' | 'counting' | 'confirm' | 'running'} */ ('idle'));
  const [matched, setMatched] = useState(0);
  // The filter the dry run counted: the one a confirmation runs, whatever the form says by then.
  const [counted, setCounted] = useState(/** @type {Record<string, unknown> | null} */ (null));
  const [bulk, setBulk] = useState(/** @type {BulkAction | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const noun = (/** @type {number} */ n) => `${count(n)} ${NOUNS[action][n === 1 ? 0 : 1]}`;
  // The button that asked goes as the question comes: focus moves to the question's Cancel (not to the action, which
  // one more Enter would run), and back to the button when the question is withdrawn.
  const start = useRef(/** @type {HTMLButtonElement | null} */ (null));
  const withdraw = useRef(/** @type {HTMLButtonElement | null} */ (null));
  const asked = useRef(false);
  useEffect(() => {
    if (step === 'confirm') {
      asked.current = true;
      withdraw.current?.focus();
    } else if (step === 'idle' && asked.current) {
      asked.current = false;
      start.current?.focus();
    }
  }, [step]);

  const dryRun = async () => {
    setStep('counting');
    setError(null);
    try {
      const answer = await request('/bulk-actions', { method: 'POST', body: { action, filter, dry_run: true } });
      setMatched(answer.count);
      setCounted(filter);
      setStep('confirm');
    } catch (e) {
      setError(e);
      setStep('idle');
    }
  };
  const confirm = async () => {
    setStep('running');
    try {
      setBulk(await request('/bulk-actions', { method: 'POST', body: { action, filter: counted } }));
    } catch (e) {
      setError(e);
      setStep('idle');
    }
  };
  usePoll(
    async (signal) => {
      if (bulk === null || bulk.status === 'completed' || bulk.status === 'failed') return;
      const next = await request(`/bulk-actions/${encodeURIComponent(bulk.id)}`, { signal });
      setBulk(next);
      if (next.status === 'completed' || next.status === 'failed') onDone();
    },
    1000,
    [bulk?.id],
  );

  const done = bulk !== null && (bulk.status === 'completed' || bulk.status === 'failed');
  // A filter changed since the count: the question asked is not this filter's any more, so it is not asked.
  const stale = step === 'confirm' && JSON.stringify(counted) !== JSON.stringify(filter);
  return html`<div class="bulk" data-testid=${`bulk-${action}`}>
    ${step === 'idle' || done || stale ? html`<button type="button" ref=${start} onClick=${dryRun}>${VERB[action]} all matching…</button>` : null}
    ${step === 'counting' ? html`<span class="muted">Counting…</span>` : null}
    ${
      step === 'confirm' && !stale
        ? html`<span class="confirm" data-testid="dry-run" onKeyDown=${(/** @type {KeyboardEvent} */ e) => e.key === 'Escape' && setStep('idle')}>
            ${matched === 0 ? 'Nothing matches this filter.' : `${VERB[action]} ${noun(matched)} matching this filter?`}
            ${matched > 0 ? html`<button type="button" class="danger" onClick=${confirm}>${VERB[action]} ${count(matched)}</button>` : null}
            <button type="button" class="secondary" ref=${withdraw} onClick=${() => setStep('idle')}>Cancel</button>
          </span>`
        : null
    }
    ${
      bulk !== null && step === 'running'
        ? html`<span class=${`bulk-status status-${bulk.status}`} data-testid="bulk-status" data-status=${bulk.status}>
            Bulk action <code>${bulk.id}</code>: ${bulk.status}; ${progressOf(bulk)}${bulk.error ? html`: <code>${bulk.error.code}</code> ${bulk.error.message}` : null}
          </span>`
        : null
    }
    <${ErrorNote} error=${error} />
  </div>`;
}

/**
 * Why a row's action was refused (each poll clears the read's own error): kept until an action goes through, the list
 * shown changes (`listKey`), or the row leaves the list (it was stale, which is why it was refused).
 * @param {ReadonlyArray<{ id: string }> | undefined} items @param {unknown[]} listKey
 */
function useRowRefusal(items, listKey) {
  const [refusal, setRefusal] = useState(/** @type {{ id: string, error: unknown } | null} */ (null));
  useEffect(() => setRefusal(null), listKey);
  useEffect(() => {
    if (refusal !== null && items !== undefined && !items.some((item) => item.id === refusal.id)) setRefusal(null);
  }, [items, refusal]);
  return {
    error: refusal?.error ?? null,
    /** @param {string} id @param {unknown} error */
    refused: (id, error) => setRefusal({ id, error }),
    clear: () => setRefusal(null),
  };
}
/** @param {{ query: URLSearchParams }} props */
function FailedOperations({ query }) {
  // The list is of failed operations, whatever the link said; a search by id is the Operations page's.
  const { q: _q, status: _status, ...shown } = filtersOf(query);
  const types = useTaskTypes();
  const pager = usePager();
  const cursor = pager.cursor;
  const [page, setPage] = useState(
    /** @type {{ items: import('./api.js').Operation[], next_cursor: string | null, cursor: string | undefined } | null} */ (null),
  );
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const [reload, setReload] = useState(0);
  const key = JSON.stringify(shown);
  usePoll(
    async (signal) => {
      try {
        const query = withTenant({ ...apiFilters(shown), status: 'failed', limit: 25, cursor });
        setPage({ ...(await request('/operations', { query, signal })), cursor });
        setError(null);
      } catch (e) {
        if (!signal.aborted) setError(e);
      }
    },
    POLL_MS,
    [key, reload, cursor],
  );
  const bulkFilter = withTenant({ ...apiFilters(shown), status: 'failed' });
  const refusal = useRowRefusal(page?.items, [key, cursor, reload]);
  /** @param {string} id */
  const retryOne = async (id) => {
    try {
      await request(`/operations/${encodeURIComponent(id)}/retry`, { method: 'POST' });
      refusal.clear();
      setReload((n) => n + 1);
    } catch (e) {
      refusal.refused(id, e);
    }
  };
  return html`<section data-testid="failed-operations">
    <h2>Failed operations</h2>
    <${FilterForm}
      key=${key} filters=${shown} types=${types} statuses=${['failed']} search=${false} onApply=${(/** @type {Record<string, string>} */ next) => navigate('/dead-letters', next)} />
    <${BulkButton} action="retry" filter=${bulkFilter} onDone=${() => setReload((n) => n + 1)} />
    <${ErrorNote} error=${refusal.error ?? error} />
    <${OperationTable}
      items=${page?.items ?? null}
      failed=${error !== null}
      actions=${(/** @type {import('./api.js').Operation} */ op) => html`<button type="button" class="small" onClick=${() => retryOne(op.id)}>Retry</button>`}
    />
    <${Pager} pager=${pager} page=${page} />
  </section>`;
}

/**
 * @typedef {{ id: string, operation_id: string, tenant: string, url: string, event_type: string, state: string, attempt_count: number,
 *   created_at: string, updated_at: string, last_status_code: number | null, last_error: string | null, superseded: boolean }} Delivery
 */

function DeadDeliveries() {
  const pager = usePager();
  const cursor = pager.cursor;
  const [page, setPage] = useState(/** @type {{ items: Delivery[], next_cursor: string | null, cursor: string | undefined } | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const [reload, setReload] = useState(0);
  const [filter, setFilter] = useState(/** @type {Record<string, string>} */ ({}));
  const { bind, values } = useDraft({});
  usePoll(
    async (signal) => {
      try {
        setPage({ ...(await request('/webhook-deliveries', { query: withTenant({ state: 'dead', limit: 50, cursor }), signal })), cursor });
        setError(null);
      } catch (e) {
        if (!signal.aborted) setError(e);
      }
    },
    POLL_MS,
    [reload, cursor],
  );
  const refusal = useRowRefusal(page?.items, [cursor, reload]);
  /** @param {string} id */
  const replay = async (id) => {
    try {
      await request(`/webhook-deliveries/${encodeURIComponent(id)}/retry`, { method: 'POST' });
      refusal.clear();
      setReload((n) => n + 1);
    } catch (e) {
      refusal.refused(id, e);
    }
  };
  /** @param {SubmitEvent} event */
  const applyFilter = (event) => {
    event.preventDefault();
    setFilter(values());
  };
  const bulkFilter = withTenant({
    operation_type: filter.operation_type,
    url: filter.url,
    created_after: toIso(filter.created_after),
    created_before: toIso(filter.created_before),
  });
  const items = page?.items ?? [];
  const tenants = namesTenants(items);
  return html`<section data-testid="dead-deliveries">
    <h2>Dead webhook deliveries</h2>
    <p class="muted">The filter chooses what a bulk replay takes; the list shows every dead delivery, newest first.</p>
    <form class="filters" onSubmit=${applyFilter}>
      <label>operation type <input ...${bind('operation_type')} size="14" /></label>
      <label>url <input ...${bind('url')} size="30" placeholder="https://…" /></label>
      <label>created after <input type="datetime-local" step="1" ...${bind('created_after')} /></label>
      <label>created before <input type="datetime-local" step="1" ...${bind('created_before')} /></label>
      <button type="submit">Apply</button>
    </form>
    <${BulkButton} action="replay_deliveries" filter=${bulkFilter} onDone=${() => setReload((n) => n + 1)} />
    <${ErrorNote} error=${refusal.error ?? error} />
    ${
      page === null
        ? error === null
          ? html`<p class="muted">Loading…</p>`
          : null
        : html`<table class="grid" data-testid="deliveries-table">
            <thead><tr><th>delivery</th><th>operation</th>${tenants ? html`<th>tenant</th>` : null}<th>event</th><th>url</th><th class="num">attempts</th><th>last answer</th><th>dead since</th><th></th></tr></thead>
            <tbody>
              ${items.length === 0 ? html`<tr><td colspan="8" class="muted">No dead deliveries.</td></tr>` : null}
              ${items.map(
                (d) => html`<tr key=${d.id} data-id=${d.id}>
                  <td><code>${d.id}</code></td>
                  <td><a class="mono" href=${`#/operations/${d.operation_id}`}>${d.operation_id}</a></td>
                  ${tenants ? html`<td data-testid="tenant">${d.tenant}</td>` : null}
                  <td>${d.event_type}</td>
                  <td class="mono">${d.url}</td>
                  <td class="num">${d.attempt_count}</td>
                  <td>${d.last_status_code ?? ''} ${d.last_error ?? ''}</td>
                  <td title=${d.updated_at}>${relativeTime(d.updated_at)}</td>
                  <td>
                    ${
                      d.superseded
                        ? html`<span class="muted" title="Its operation was retried since: sent now, it would reach the receiver after the rerun's event">superseded</span>`
                        : html`<button type="button" class="small" onClick=${() => replay(d.id)}>Replay</button>`
                    }
                  </td>
                </tr>`,
              )}
            </tbody>
          </table>`
    }
    <${Pager} pager=${pager} page=${page} />
  </section>`;
}

function RecentBulkActions() {
  const [items, setItems] = useState(/** @type {BulkAction[] | null} */ (null));
  usePoll(
    async (signal) => {
      setItems((await request('/bulk-actions', { query: withTenant({ limit: 10 }), signal })).items);
    },
    5000,
    [],
  );
  if (items === null || items.length === 0) return null;
  // An admin's actions may be another tenant's: then each says whose, an action over every tenant (a null tenant)
  // too. One over every tenant is no other tenant's by itself (on a server without keys, every unfiltered one is).
  const tenants = namesTenants(items.filter((b) => b.tenant !== null));
  return html`<section>
    <h2>Recent bulk actions</h2>
    <table class="grid compact" data-testid="bulk-actions">
      <thead><tr><th>id</th>${tenants ? html`<th>tenant</th>` : null}<th>action</th><th>filter</th><th>status</th><th>progress</th><th>by</th><th>created</th></tr></thead>
      <tbody>
        ${items.map(
          (b) => html`<tr key=${b.id}>
            <td><code>${b.id}</code></td>${tenants ? html`<td data-testid="tenant">${b.tenant ?? 'every tenant'}</td>` : null}<td>${b.action}</td><td class="mono">${JSON.stringify(b.filter)}</td><td>${b.status}</td>
            <td>${progressOf(b)}</td><td>${b.created_by ?? '—'}</td><td title=${b.created_at}>${formatTime(b.created_at)}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

/** @param {{ query: URLSearchParams }} props */
export function DeadLetters({ query }) {
  return html`<section class="page dead-letters">
    <h1>Dead letters</h1>
    <${FailedOperations} key=${query.toString()} query=${query} />
    <${DeadDeliveries} />
    <${RecentBulkActions} />
  </section>`;
}
