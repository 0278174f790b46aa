// Owns: reading `npm run bench`'s command line: its flags, their allowed values, and the usage text. Not here: what
// each scenario measures (run.ts and the scenarios).

import { parseArgs } from 'node:util';
import type { StoreKind } from './stores.ts';

export const SCENARIOS = ['http', 'drain', 'pickup', 'webhooks', 'growth', 'eta', 'fairness', 'bulk'] as const;
/**
 * Scenarios only `--only` runs: `create` is the creates of `http` alone (each form on a server of its own, for a profile);
 * `operator-reads` seeds a million operations (minutes) and times the lists, counts and overview over them;
 * `enqueue` is asyncops's side of the peers' one-at-a-time workload (with `--peers`).
 */
const ONLY_SCENARIOS = ['create', 'operator-reads', 'enqueue'] as const;
export type Scenario = (typeof SCENARIOS)[number] | (typeof ONLY_SCENARIOS)[number];
const STORES = ['sqlite', 'postgres', 'both'] as const;

export interface BenchOptions {
  readonly mode: 'quick' | 'full';
  readonly stores: StoreKind[];
  /** The scenarios to run; every default one when `--only` is not given. */
  readonly only: ReadonlySet<Scenario>;
  /** Whether `--only` was given (peers' `enqueue` runs by default only without it). */
  readonly onlyGiven: boolean;
  readonly otel: boolean;
  readonly peers: boolean;
}

export const USAGE = `usage: npm run bench -- [--quick] [--store sqlite|postgres|both] [--only a,b,…] [--peers] [--otel]
  --quick    a smoke run of every figure (short loads); without it, the full run bench/README.md's figures come from
  --store    which stores to measure (default both; PostgreSQL is skipped with a note when it does not answer)
  --only     some scenarios: ${[...SCENARIOS, ...ONLY_SCENARIOS].join(', ')} (enqueue with --peers)
  --peers    also run BullMQ, graphile-worker and pg-boss on the same workloads, side by side (installs bench/peers)
  --otel     every server exports its traces to a local OTLP sink`;

/** A command line the bench cannot follow; its message is one line. */
export class BenchUsageError extends Error {}

/** `{ help: true }` for --help; otherwise the options, or a BenchUsageError naming what is wrong. */
export function parseBenchArgs(args: readonly string[]): BenchOptions | { readonly help: true } {
  const values = readFlags(args);
  if (values.help) return { help: true };
  const store = values.store;
  if (!(STORES as readonly string[]).includes(store)) throw new BenchUsageError(`--store must be one of ${STORES.join(', ')} (got '${store}')`);
  const known: readonly string[] = [...SCENARIOS, ...ONLY_SCENARIOS];
  const named = values.only?.split(',').map((s) => s.trim()) ?? [];
  if (values.only !== undefined && named.every((s) => s === '')) throw new BenchUsageError('--only needs at least one scenario');
  const unknown = named.filter((s) => !known.includes(s));
  if (unknown.length > 0) throw new BenchUsageError(`--only: unknown scenario ${unknown.map((s) => `'${s}'`).join(', ')} (known: ${known.join(', ')})`);
  // Alone it would measure nothing and write an empty table.
  if (named.includes('enqueue') && !values.peers) throw new BenchUsageError("--only enqueue is the peers' one-at-a-time workload: add --peers");
  return {
    mode: values.quick ? 'quick' : 'full',
    stores: store === 'both' ? ['sqlite', 'postgres'] : [store as StoreKind],
    only: new Set((values.only === undefined ? SCENARIOS : named) as Scenario[]),
    onlyGiven: values.only !== undefined,
    otel: values.otel,
    peers: values.peers,
  };
}

function readFlags(args: readonly string[]) {
  try {
    return parseArgs({
      args: [...args],
      options: {
        help: { type: 'boolean', short: 'h', default: false },
        quick: { type: 'boolean', default: false },
        store: { type: 'string', default: 'both' },
        only: { type: 'string' },
        otel: { type: 'boolean', default: false },
        peers: { type: 'boolean', default: false },
      },
    }).values;
  } catch (error) {
    // node:util's messages run to several lines with advice about `--`; the first says what is wrong.
    throw new BenchUsageError((error as Error).message.split('\n')[0]!);
  }
}
