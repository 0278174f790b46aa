// Owns: the Overview page: per task type, pending / running / failed counts (GET /operations/counts, polled every
// few seconds: it is cheap), and over the last hour throughput, failure rate, time from created to started (p50/p95)
// and how good the ETAs were, with charts (GET /stats/overview, fetched again when the counts move).

import { useState } from 'preact/hooks';
import { request, withTenant } from './api.js';
import { ThroughputChart } from './chart.js';
import { ErrorNote, count, formatDuration, href, html, percent, usePoll } from './ui.js';

/**
 * @typedef {{ type: string, pending: number, processing: number, failed: number, completed_in_window: number,
 *   failed_in_window: number, throughput_per_min: number, failure_rate: number | null,
 *   pickup_ms: { p50: number, p95: number } | null, eta_error: { median: number, p90: number, samples: number } | null,
 *   series: import('./chart.js').Bucket[] }} TypeStats
 */

const COUNTS_EVERY_MS = 3000;
/** Even with no change in the counts, the hour's window moves on. */
const STATS_EVERY_MS = 30_000;

/** Counts by type and status, from the counts endpoint's rows. @param {Array<{ type: string, status: string, count: number }>} rows */
function byType(rows) {
  /** @type {Map<string, Record<string, number>>} */
  const types = new Map();
  for (const row of rows) {
    const counts = types.get(row.type) ?? {};
    counts[row.status] = (counts[row.status] ?? 0) + row.count;
    types.set(row.type, counts);
  }
  return types;
}

/** Every type's buckets added up, minute by minute. @param {TypeStats[]} types */
function totalSeries(types) {
  /** @type {Map<string, import('./chart.js').Bucket>} */
  const buckets = new Map();
  for (const type of types) {
    for (const b of type.series) {
      const total = buckets.get(b.at) ?? { at: b.at, completed: 0, failed: 0 };
      total.completed += b.completed;
      total.failed += b.failed;
      buckets.set(b.at, total);
    }
  }
  return [...buckets.values()].sort((a, b) => a.at.localeCompare(b.at));
}

/** An ETA's error as the stats give it (a fraction of the real duration). @param {number} error */
const etaError = (error) => `±${percent(Math.abs(error))}`;

/** A type with something to draw: it finished operations in the window, or has some waiting or running. @param {TypeStats} t */
const active = (t) => t.completed_in_window + t.failed_in_window + t.pending + t.processing > 0;

export function Overview() {
  const [counts, setCounts] = useState(/** @type {Map<string, Record<string, number>> | null} */ (null));
  const [stats, setStats] = useState(/** @type {{ window_s: number, generated_at: string, types: TypeStats[] } | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const [seen, setSeen] = useState({ counts: '', statsAt: 0 });

  usePoll(
    async (signal) => {
      try {
        const page = await request('/operations/counts', { query: withTenant(), signal });
        const fingerprint = JSON.stringify(page.items);
        setCounts(byType(page.items));
        // The heavier stats only when something moved, or the window did.
        if (fingerprint !== seen.counts || Date.now() - seen.statsAt > STATS_EVERY_MS) {
          setStats(await request('/stats/overview', { query: withTenant({ window_s: 3600 }), signal }));
          setSeen({ counts: fingerprint, statsAt: Date.now() });
        }
        setError(null);
      } catch (e) {
        if (!signal.aborted) setError(e);
      }
    },
    COUNTS_EVERY_MS,
    [],
  );

  const statsByType = new Map((stats?.types ?? []).map((t) => [t.type, t]));
  const types = [...new Set([...(counts?.keys() ?? []), ...statsByType.keys()])].sort();
  return html`<section class="page overview">
    <h1>Overview</h1>
    <${ErrorNote} error=${error} />
    ${counts === null && error === null ? html`<p class="muted">Loading…</p>` : null}
    ${stats === null ? null : html`<${ThroughputChart} title="Completed and failed per minute, last hour (all types)" series=${totalSeries(stats.types)} width=${880} />`}
    <table class="grid" data-testid="overview-table">
      <thead>
        <tr>
          <th>type</th><th class="num">pending</th><th class="num">running</th><th class="num">failed</th><th class="num">completed</th>
          <th class="num">throughput / min</th><th class="num">failure rate</th><th class="num">pickup p50</th><th class="num">pickup p95</th>
          <th class="num">ETA error (median / p90)</th>
        </tr>
      </thead>
      <tbody>
        ${types.length === 0 && counts !== null ? html`<tr><td colspan="10" class="muted">No operations yet.</td></tr>` : null}
        ${types.map((type) => {
          const c = counts?.get(type) ?? {};
          const s = statsByType.get(type);
          return html`<tr data-type=${type}>
            <td><a href=${href('/operations', { type })}>${type}</a></td>
            <td class="num"><a href=${href('/operations', { type, status: 'pending' })}>${count(c.pending ?? 0)}</a></td>
            <td class="num"><a href=${href('/operations', { type, status: 'processing' })}>${count(c.processing ?? 0)}</a></td>
            <td class="num"><a class=${c.failed ? 'bad' : ''} href=${href('/dead-letters', { type })}>${count(c.failed ?? 0)}</a></td>
            <td class="num"><a href=${href('/operations', { type, status: 'completed' })}>${count(c.completed ?? 0)}</a></td>
            <td class="num">${s ? s.throughput_per_min.toFixed(1) : '—'}</td>
            <td class="num">${s && s.completed_in_window + s.failed_in_window > 0 ? percent(s.failure_rate) : '—'}</td>
            <td class="num">${formatDuration(s?.pickup_ms?.p50)}</td>
            <td class="num">${formatDuration(s?.pickup_ms?.p95)}</td>
            <td class="num">${s?.eta_error ? html`${etaError(s.eta_error.median)} / ${etaError(s.eta_error.p90)} <span class="muted">(${s.eta_error.samples})</span>` : '—'}</td>
          </tr>`;
        })}
      </tbody>
    </table>
    ${
      stats === null
        ? null
        : html`<div class="cards">
            ${stats.types.filter(active).map(
              (t) => html`<div class="card" key=${t.type}>
                <${ThroughputChart} title=${`${t.type}: ${t.completed_in_window} completed, ${t.failed_in_window} failed in the last hour`} series=${t.series} width=${420} height=${140} />
              </div>`,
            )}
          </div>`
    }
  </section>`;
}
