// Owns: the ETA accuracy figure: a mixed workload of two known durations arriving at random, every open
// operation's estimated_completion_at sampled while pending and processing, compared with its finished_at.
// Not here: how the ETA is computed (src/domain/eta.ts). Invariant: error = |predicted − actual| / (actual − sample time).

import { json, percentile, round, submit, wallNow, type StoredOperation } from './load.ts';
import { startAsyncops } from './processes.ts';
import { freshStore, type StoreKind } from './stores.ts';
import { seededRandom } from '../test/support/seeded-random.ts';

export interface EtaFigures {
  readonly operations: number;
  readonly samples: number;
  /** Samples whose ETA was null (no basis yet). */
  readonly nullSamples: number;
  readonly medianAbsError: number;
  readonly medianAbsErrorPending: number;
  readonly medianAbsErrorProcessing: number;
  readonly p90AbsError: number;
}

// Arrivals per second of each type; with 2 slots each, about 60 % and 68 % busy, so queues come and go.
const ARRIVALS = { eta_short: 4, eta_long: 1.5 } as const;
const SAMPLE_EVERY_MS = 200;

interface Sample {
  readonly id: string;
  readonly at: number;
  readonly status: string;
  readonly eta: number | null;
}

export async function measureEta(kind: StoreKind, seconds: number): Promise<EtaFigures> {
  const store = await freshStore(kind);
  try {
    const server = await startAsyncops('serve', { store: store.spec, concurrency: 10 });
    try {
      const random = seededRandom(7);
      // Poisson arrivals per type, merged and sorted.
      const arrivals: Array<{ at: number; type: string }> = [];
      for (const [type, rate] of Object.entries(ARRIVALS)) {
        for (let t = -Math.log(1 - random()) / rate; t < seconds; t += -Math.log(1 - random()) / rate) arrivals.push({ at: t * 1000, type });
      }
      arrivals.sort((a, b) => a.at - b.at);
      const open = new Set<string>();
      const finished = new Map<string, number>();
      const samples: Sample[] = [];
      let submitting = true;
      const sampler = (async () => {
        while (submitting || open.size > 0) {
          await Promise.all(
            [...open].map(async (id) => {
              const sentAt = wallNow();
              const { body } = await json<StoredOperation>(`${server.url}/operations/${id}`);
              // The server computed the ETA somewhere between send and receipt.
              const at = (sentAt + wallNow()) / 2;
              if (body.status === 'pending' || body.status === 'processing') {
                samples.push({ id, at, status: body.status, eta: body.estimated_completion_at === null ? null : Date.parse(body.estimated_completion_at) });
              } else {
                open.delete(id);
                finished.set(id, Date.parse(body.finished_at!));
              }
            }),
          );
          await new Promise((resolve) => setTimeout(resolve, SAMPLE_EVERY_MS));
        }
      })();
      const start = performance.now();
      for (const arrival of arrivals) {
        const wait = start + arrival.at - performance.now();
        if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
        open.add((await submit(server.url, { type: arrival.type, input: {} })).id);
      }
      submitting = false;
      await sampler;
      const errors = (status: string | null) =>
        samples
          .filter((s) => s.eta !== null && (status === null || s.status === status))
          .map((s) => {
            const actual = finished.get(s.id)!;
            return Math.abs(s.eta! - actual) / Math.max(1, actual - s.at);
          });
      const all = errors(null);
      return {
        operations: arrivals.length,
        samples: samples.length,
        nullSamples: samples.filter((s) => s.eta === null).length,
        medianAbsError: round(percentile(all, 50), 3),
        medianAbsErrorPending: round(percentile(errors('pending'), 50), 3),
        medianAbsErrorProcessing: round(percentile(errors('processing'), 50), 3),
        p90AbsError: round(percentile(all, 90), 3),
      };
    } finally {
      await server.stop();
    }
  } finally {
    await store.dispose();
  }
}
