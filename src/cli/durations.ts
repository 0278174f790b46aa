// Owns: reading human durations in flags and environment ("250ms", "10s", "5m", "2h", "7d"; a bare number is seconds).
// Invariant: anything else is null, so the caller can refuse it with a message.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (!match) return null;
  const ms = Number(match[1]) * (UNIT_MS[(match[2] ?? 's').toLowerCase()] ?? 1000);
  return Number.isFinite(ms) ? Math.round(ms) : null;
}
