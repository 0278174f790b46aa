// Owns: the Task types page: every registered type (GET /task-types) with its input schema, limits (timeout,
// attempts, concurrency, rate limit, a hold) and observed duration.

import { useState } from 'preact/hooks';
import { request } from './api.js';
import { ErrorNote, Json, formatDuration, html, href, relativeTime, usePoll } from './ui.js';

/**
 * @typedef {{ type: string, description: string | null, route: string | null, input_schema: unknown, timeout_s: number,
 *   max_attempts: number, concurrency: number, rate_limit: { limit: number, interval_s: number } | null,
 *   held_until: string | null, observed_duration_s: number | null, observed_samples: number }} TaskType
 */

export function TaskTypes() {
  const [types, setTypes] = useState(/** @type {TaskType[] | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  // While a type is held its countdown is read again every second (a hold is mostly seconds, at most an hour), else every 15 s.
  const held = (types ?? []).some((t) => t.held_until !== null);
  usePoll(
    async (signal) => {
      try {
        setTypes((await request('/task-types', { signal })).items);
        setError(null);
      } catch (e) {
        if (!signal.aborted) setError(e);
      }
    },
    held ? 1_000 : 15_000,
    [held],
  );
  return html`<section class="page task-types">
    <h1>Task types</h1>
    <${ErrorNote} error=${error} />
    ${types === null && error === null ? html`<p class="muted">Loading…</p>` : null}
    <table class="grid" data-testid="task-types-table">
      <thead>
        <tr><th>type</th><th>route</th><th class="num">timeout</th><th class="num">max attempts</th><th class="num">concurrency</th><th>rate limit</th><th>observed duration</th></tr>
      </thead>
      <tbody>
        ${(types ?? []).map(
          (t) => html`<tr key=${t.type} data-type=${t.type}>
            <td><a href=${href('/operations', { type: t.type })}>${t.type}</a>${t.description ? html`<div class="muted">${t.description}</div>` : null}</td>
            <td class="mono">${t.route ?? '—'}</td>
            <td class="num">${t.timeout_s} s</td>
            <td class="num">${t.max_attempts}</td>
            <td class="num">${t.concurrency}</td>
            <td>${t.rate_limit ? `${t.rate_limit.limit} per ${t.rate_limit.interval_s} s` : '—'}${t.held_until ? html` <span class="bad">held until ${relativeTime(t.held_until)}</span>` : null}</td>
            <td>
              ${t.observed_duration_s === null ? '—' : formatDuration(t.observed_duration_s * 1000)}
              <span class="muted">${t.observed_samples === 0 ? (t.observed_duration_s === null ? '' : ' (declared)') : ` (${t.observed_samples} ${t.observed_samples === 1 ? 'run' : 'runs'})`}</span>
            </td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${(types ?? []).map(
      (t) => html`<details key=${t.type} class="schema">
        <summary>Input schema of <strong>${t.type}</strong></summary>
        <${Json} value=${t.input_schema} />
      </details>`,
    )}
  </section>`;
}
