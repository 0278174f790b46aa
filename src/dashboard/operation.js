// Owns: one operation's page: its resource, input, result (shown when JSON, else offered to download), its history
// as a timeline (GET /operations/{id}/history) and its webhook deliveries with every attempt; live while it runs,
// from its event stream (each event is the resource; the history and deliveries are read again after it). Retry
// and cancel act on it, and Delete (confirmed in the page) removes one that has ended.

import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, fetchResult, openEvents, RESULT_SHOWN_BYTES, request } from './api.js';
import { ErrorNote, Json, Progress, StatusBadge, formatClock, formatDuration, formatTime, html, href, navigate, relativeTime, usePoll } from './ui.js';

/** @typedef {import('./api.js').Operation} Operation */
/** @typedef {{ seq: number, at: string, kind: string, [detail: string]: unknown }} HistoryEvent */

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
/** A timeline longer than this is cut (the API pages it; an operation's history is bounded anyway). */
const MAX_HISTORY = 1000;
const WEBHOOK_POLL_MS = 2000;
/** Reading the history again on an event waits this long, so a burst of progress events costs one read. */
const REFRESH_MS = 300;
/** A stream that ended while the operation runs is opened again after this long. */
const REOPEN_MS = 2000;

/** @param {string} id */
async function readHistory(id) {
  /** @type {HistoryEvent[]} */
  const items = [];
  /** @type {string | null} */
  let cursor = null;
  do {
    /** @type {{ items: HistoryEvent[], next_cursor: string | null }} */
    const page = await request(`/operations/${encodeURIComponent(id)}/history`, { query: { limit: 200, cursor } });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor !== null && items.length < MAX_HISTORY);
  return items;
}

/** What an event says beyond its kind, in a line. @param {HistoryEvent} event */
function describe(event) {
  const e = /** @type {Record<string, any>} */ (event);
  switch (event.kind) {
    case 'created':
      return `tenant ${e.tenant ?? '—'}${e.idempotency_key ? `, idempotency key ${e.idempotency_key}` : ''}`;
    case 'claimed':
      return `attempt ${e.attempt} by worker ${e.worker}`;
    case 'progress':
      return `${Math.round((e.progress ?? 0) * 100)} %${e.message ? `: ${e.message}` : ''}`;
    case 'attempt_failed':
      return `attempt ${e.attempt}: ${e.error?.code ?? ''} ${e.error?.message ?? ''}${e.next_run_at ? `; next try ${relativeTime(e.next_run_at)}` : ''}`;
    case 'lease_expired':
      return `attempt ${e.attempt}: its worker stopped renewing the lease`;
    case 'released':
      return `attempt ${e.attempt} given back uncounted${e.times > 1 ? ` ${e.times} times in a row` : ''} (its worker stopped, or its type is rate limited); it runs again`;
    case 'failed':
    case 'cancelled':
      return e.error ? `${e.error.code}: ${e.error.message}` : '';
    case 'redriven':
      return `by ${e.by ?? '—'}${e.bulk_action_id ? ` (bulk action ${e.bulk_action_id})` : ''}`;
    case 'webhook_attempt':
      return `attempt ${e.attempt}: ${e.status_code ?? 'no response'} in ${formatDuration(e.duration_ms)} (${e.outcome})${e.error ? `: ${e.error}` : ''}`;
    default:
      return '';
  }
}

/** @param {{ events: HistoryEvent[] | null, error: unknown }} props */
function Timeline({ events, error }) {
  if (error instanceof ApiError && error.status === 404) return html`<p class="muted">This server keeps no history of operations.</p>`;
  if (events === null) return error ? html`<${ErrorNote} error=${error} />` : html`<p class="muted">Loading…</p>`;
  return html`<ol class="timeline" data-testid="timeline">
    ${events.map(
      (event) => html`<li key=${event.seq} class=${`event kind-${event.kind}`} data-kind=${event.kind}>
        <time datetime=${event.at} title=${formatTime(event.at)}>${formatClock(event.at)}</time>
        <strong>${event.kind.replace(/_/g, ' ')}</strong>
        <span>${describe(event)}</span>
      </li>`,
    )}
  </ol>`;
}

/**
 * @typedef {{ id: string, url: string, state: string, event_type: string, attempt_count: number, next_attempt_at: string | null,
 *   last_status_code: number | null, last_error: string | null, created_at: string,
 *   attempts: Array<{ attempt: number, trigger: string, started_at: string, duration_ms: number, status_code: number | null, error: string | null }> }} Delivery
 */

/** @param {{ deliveries: Delivery[] | null }} props */
function Deliveries({ deliveries }) {
  if (deliveries === null) return html`<p class="muted">Loading…</p>`;
  if (deliveries.length === 0) return html`<p class="muted">No webhook deliveries.</p>`;
  return html`${deliveries.map(
    (d) => html`<div class="delivery" key=${d.id} data-id=${d.id}>
      <p><code>${d.id}</code> ${d.event_type} → <span class="mono">${d.url}</span> <span class=${`badge state-${d.state}`}>${d.state}</span>
        ${d.next_attempt_at ? html` <span class="muted">next attempt ${relativeTime(d.next_attempt_at)}</span>` : null}</p>
      <table class="grid compact">
        <thead><tr><th class="num">attempt</th><th>trigger</th><th>started</th><th class="num">duration</th><th>status</th><th>error</th></tr></thead>
        <tbody>
          ${d.attempts.map(
            (a) => html`<tr key=${a.attempt}>
              <td class="num">${a.attempt}</td><td>${a.trigger}</td><td>${formatTime(a.started_at)}</td><td class="num">${formatDuration(a.duration_ms)}</td>
              <td>${a.status_code ?? '—'}</td><td>${a.error ?? ''}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>`,
  )}`;
}

/** @param {{ op: Operation }} props */
function Result({ op }) {
  const [result, setResult] = useState(/** @type {Awaited<ReturnType<typeof fetchResult>> | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  useEffect(() => {
    if (op.status !== 'completed') return;
    fetchResult(op.id).then(setResult, setError);
  }, [op.id, op.status]);
  if (op.status !== 'completed') return html`<p class="muted">No result${TERMINAL.has(op.status) ? '' : ' yet'}.</p>`;
  if (error) return html`<${ErrorNote} error=${error} />`;
  if (result === null) return html`<p class="muted">Loading…</p>`;
  const download = () => {
    const link = document.createElement('a');
    link.href = URL.createObjectURL(result.blob);
    link.download = `${op.id}-result`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  };
  return html`<div>
    <p class="muted">
      ${result.type}, ${result.size.toLocaleString()} bytes${result.tooLargeToShow ? ` (JSON over ${RESULT_SHOWN_BYTES / 1024} KiB is not shown here)` : ''}
      <button type="button" class="secondary" onClick=${download}>Download</button>
    </p>
    ${result.json === undefined ? null : html`<${Json} value=${result.json} />`}
  </div>`;
}

/** @param {{ id: string }} props */
export function OperationPage({ id }) {
  const [op, setOp] = useState(/** @type {Operation | null} */ (null));
  const [history, setHistory] = useState(/** @type {HistoryEvent[] | null} */ (null));
  const [historyError, setHistoryError] = useState(/** @type {unknown} */ (null));
  const [deliveries, setDeliveries] = useState(/** @type {Delivery[] | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  // Why the last Retry or Cancel was refused, and the operation's status as read just after: kept until an action goes
  // through or the status changes again (the reads that follow clear `error`; the refusal may name the status that
  // made it, which a later one would contradict; progress contradicts nothing).
  const [refusal, setRefusal] = useState(/** @type {{ error: unknown, status: string | null } | null} */ (null));
  const [live, setLive] = useState(false);
  const [acting, setActing] = useState(false);
  // A delete cannot be undone: its button asks first, in the page, and goes back to the list once done.
  const [confirmingDelete, setConfirmingDelete] = useState(false);
  // The button pressed goes away with the question it asks: focus goes to the safe answer, and back once answered.
  const keepButton = useRef(/** @type {HTMLButtonElement | null} */ (null));
  const deleteButton = useRef(/** @type {HTMLButtonElement | null} */ (null));
  const wasConfirming = useRef(false);
  useEffect(() => {
    if (confirmingDelete) keepButton.current?.focus();
    else if (wasConfirming.current) deleteButton.current?.focus();
    wasConfirming.current = confirmingDelete;
  }, [confirmingDelete]);
  // Bumped to read the operation, its history and deliveries again (after an event, or an action).
  const [version, setVersion] = useState(0);
  const stream = useRef(/** @type {EventSource | null} */ (null));

  useEffect(() => {
    let stale = false;
    const path = `/operations/${encodeURIComponent(id)}`;
    request(path).then(
      (next) => {
        if (stale) return;
        setOp(next);
        setError(null);
        setRefusal((r) => (r === null ? null : r.status === null ? { ...r, status: next.status } : r.status === next.status ? r : null));
      },
      (e) => {
        if (stale) return;
        setError(e);
        // Gone (deleted, its store replaced): shown as a page opened afresh would, and nothing is asked again.
        if (e instanceof ApiError && e.status === 404) setOp(null);
      },
    );
    readHistory(id).then(
      (events) => {
        if (stale) return;
        setHistory(events);
        setHistoryError(null);
      },
      (e) => !stale && setHistoryError(e),
    );
    request(`${path}/deliveries`).then(
      (page) => !stale && setDeliveries(page.items),
      () => !stale && setDeliveries([]),
    );
    return () => {
      stale = true;
    };
  }, [id, version]);

  // Live while it runs: every event is the resource as it now is; history and deliveries follow it, read again at
  // most every REFRESH_MS however fast the events come. A stream that ends while the operation still runs (its token
  // expired on a reconnect, the node stopped) is opened again, with a new token.
  const running = op !== null && !TERMINAL.has(op.status);
  const stillRunning = useRef(running);
  stillRunning.current = running;
  const [streamEpoch, setStreamEpoch] = useState(0);
  useEffect(() => {
    if (!running) return;
    let closed = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let refresh;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let reopen;
    const again = (/** @type {unknown} */ failure) => {
      setLive(false);
      // A 404 for its stream's token: the operation is gone. Read it once more (the page then says so) instead.
      if (failure instanceof ApiError && failure.status === 404) return void setVersion((v) => v + 1);
      if (!closed && stillRunning.current) reopen = setTimeout(() => setStreamEpoch((n) => n + 1), REOPEN_MS);
    };
    openEvents(id).then((source) => {
      if (closed) return source.close();
      stream.current = source;
      setLive(true);
      /** @param {MessageEvent} event */
      const onEvent = (event) => {
        setOp(JSON.parse(event.data));
        refresh ??= setTimeout(() => {
          refresh = undefined;
          setVersion((v) => v + 1);
        }, REFRESH_MS);
      };
      source.addEventListener('status', onEvent);
      source.addEventListener('progress', onEvent);
      // While the browser reconnects (CONNECTING) the page is not live: nothing new reaches it until it is open again.
      source.onopen = () => setLive(true);
      source.onerror = () => {
        if (source.readyState === EventSource.CLOSED) again(null);
        else setLive(false);
      };
    }, again);
    return () => {
      closed = true;
      clearTimeout(refresh);
      clearTimeout(reopen);
      stream.current?.close();
      stream.current = null;
      setLive(false);
      // The last event's changes are read even when it ended the stream.
      setVersion((v) => v + 1);
    };
  }, [id, running, streamEpoch]);

  // Its webhook is sent after it ends, when the stream has closed: read it again until the delivery settles.
  const webhookPending = op !== null && TERMINAL.has(op.status) && (op.webhook?.state === 'pending' || op.webhook?.state === 'retrying');
  usePoll(
    () => {
      if (webhookPending) setVersion((v) => v + 1);
    },
    WEBHOOK_POLL_MS,
    [webhookPending],
  );

  /** @param {string} action */
  const act = async (action) => {
    setActing(true);
    try {
      setOp(await request(`/operations/${encodeURIComponent(id)}/${action}`, { method: 'POST' }));
      setRefusal(null);
    } catch (e) {
      setRefusal({ error: e, status: null });
    } finally {
      setActing(false);
      setVersion((v) => v + 1);
    }
  };

  const remove = async () => {
    setActing(true);
    try {
      await request(`/operations/${encodeURIComponent(id)}`, { method: 'DELETE' });
      navigate('/operations');
    } catch (e) {
      setRefusal({ error: e, status: null });
      setActing(false);
      setConfirmingDelete(false);
      setVersion((v) => v + 1);
    }
  };

  if (op === null) {
    return html`<section class="page operation"><h1 class="mono">${id}</h1>${error ? html`<${ErrorNote} error=${error} />` : html`<p class="muted">Loading…</p>`}</section>`;
  }
  const canRetry = op.status === 'failed' || op.status === 'cancelled';
  return html`<section class="page operation" data-status=${op.status}>
    <p><a href=${href('/operations')}>← Operations</a></p>
    <h1><span class="mono">${op.id}</span> <${StatusBadge} status=${op.status} />${live ? html` <span class="live" title="Updates as it happens">● live</span>` : null}</h1>
    <${ErrorNote} error=${refusal?.error ?? error} />
    <div class="actions">
      ${canRetry ? html`<button type="button" disabled=${acting} onClick=${() => act('retry')}>Retry</button>` : null}
      ${running ? html`<button type="button" class="danger" disabled=${acting} onClick=${() => act('cancel')}>Cancel</button>` : null}
      ${
        running
          ? null
          : confirmingDelete
            ? html`<span class="confirm" id="delete-question">Delete this operation, its result and its history for good?</span>
                <button type="button" class="danger" aria-describedby="delete-question" disabled=${acting} onClick=${remove}>Delete</button>
                <button type="button" class="secondary" aria-describedby="delete-question" ref=${keepButton} disabled=${acting} onClick=${() => setConfirmingDelete(false)}>Keep</button>`
            : html`<button type="button" class="secondary" ref=${deleteButton} disabled=${acting} onClick=${() => setConfirmingDelete(true)}>Delete…</button>`
      }
    </div>
    <div class="columns">
      <div>
        <h2>Resource</h2>
        <dl class="facts">
          <dt>tenant</dt><dd>${op.tenant}</dd>
          <dt>type</dt><dd>${op.type}</dd>
          <dt>progress</dt><dd><${Progress} value=${op.progress} /> ${op.progress_message ?? ''}</dd>
          <dt>attempt</dt><dd>${op.attempt} of ${op.max_attempts}</dd>
          ${op.priority !== 0 ? html`<dt>priority</dt><dd>${op.priority}</dd>` : null}
          ${op.concurrency_key ? html`<dt>concurrency key</dt><dd class="mono">${op.concurrency_key}</dd>` : null}
          ${op.schedule_id ? html`<dt>schedule</dt><dd class="mono">${op.schedule_id}</dd>` : null}
          <dt>created</dt><dd>${formatTime(op.created_at)}</dd>
          ${op.status === 'pending' && Date.parse(op.run_at) > Date.now() ? html`<dt>runs at</dt><dd>${formatTime(op.run_at)}</dd>` : null}
          <dt>started</dt><dd>${formatTime(op.started_at)}</dd>
          <dt>finished</dt><dd>${formatTime(op.finished_at)}</dd>
          ${running ? html`<dt>expected end</dt><dd>${op.estimated_completion_at ? relativeTime(op.estimated_completion_at) : '—'}</dd>` : null}
          ${op.queue_position !== null ? html`<dt>queue position</dt><dd>${op.queue_position}</dd>` : null}
          <dt>timeout</dt><dd>${op.timeout_s} s per attempt</dd>
          ${op.error ? html`<dt>error</dt><dd><code>${op.error.code}</code> ${op.error.message}</dd>` : null}
          ${op.last_attempt_error ? html`<dt>last attempt</dt><dd><code>${op.last_attempt_error.code}</code> ${op.last_attempt_error.message}</dd>` : null}
          ${op.webhook ? html`<dt>webhook</dt><dd><span class="mono">${op.webhook.url}</span> (${op.webhook.state})</dd>` : null}
        </dl>
        <h2>Input</h2>
        <${Json} value=${op.input} />
        <h2>Result</h2>
        <${Result} op=${op} />
      </div>
      <div>
        <h2>History</h2>
        <${Timeline} events=${history} error=${historyError} />
        <h2>Webhook deliveries</h2>
        <${Deliveries} deliveries=${deliveries} />
      </div>
    </div>
  </section>`;
}
