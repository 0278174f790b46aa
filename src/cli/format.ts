// Owns: the plain-text renderings of operations and deliveries that more than one command prints.
// Not here: JSON output (printed as the API sent it) or the live progress bar (progress.ts).
// Invariant: plain text only — no control characters, so output piped to a file or a log stays clean.

import type { Delivery, Operation } from '../client/index.ts';

/** `1m05s`, `12s`, `2h03m`; `?` when unknown. */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatPercent(progress: number | null): string {
  return progress === null ? '' : `${Math.round(progress * 100)}%`;
}

/** One line: id, type, status, and whatever of progress, message, queue position, ETA and error is known. */
export function describeOperation(op: Operation): string {
  const parts = [op.id, op.type, op.status];
  if (op.status === 'pending' && op.queue_position !== null) parts.push(`queue #${op.queue_position}`);
  if (op.progress !== null && op.status === 'processing') parts.push(formatPercent(op.progress));
  if (op.progress_message) parts.push(quoteIfSpaced(op.progress_message));
  if (op.attempt > 1) parts.push(`attempt ${op.attempt}/${op.max_attempts}`);
  if (op.estimated_seconds_remaining !== null) parts.push(`ETA ${formatSeconds(op.estimated_seconds_remaining)}`);
  if (op.error) parts.push(`error ${op.error.code}: ${op.error.message}`);
  else if (op.status === 'pending' && op.last_attempt_error) parts.push(`retrying after ${op.last_attempt_error.code}`);
  return sanitize(parts.join('  '));
}

export function describeDelivery(d: Delivery): string {
  const last = d.last_status_code !== null ? `HTTP ${d.last_status_code}` : (d.last_error ?? '-');
  const state = d.superseded ? `${d.state} (superseded)` : d.state;
  return sanitize([d.id, state, d.event_type, d.operation_id, `${d.attempt_count} attempt${d.attempt_count === 1 ? '' : 's'}`, last, d.url].join('  '));
}

/** Fixed-width columns for a list; the last column is not padded. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

/** Server-supplied text may hold anything; keep terminals and logs safe from its control characters. */
export function sanitize(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}

function quoteIfSpaced(text: string): string {
  return /\s/.test(text) ? JSON.stringify(text) : text;
}
