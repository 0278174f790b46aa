// Owns: the ETA accuracy figures: three workloads whose durations vary as real ones do (eta-workloads.ts), every open
// operation's estimate sampled while pending and processing and scored against its finished_at, per status, with the
// share of samples whose finish fell inside the estimated range. Not here: how the ETA is computed (src/domain/eta*.ts).
// Invariant: error = |predicted − actual| / (actual − sample time); coverage counts only samples that had a range.

import { json, percentile, round, submit, waitIdle, wallNow } from './load.ts';
import { startAsyncops } from './processes.ts';
import { freshStore, type StoreKind } from './stores.ts';
import { ETA_WORKLOADS, type EtaWorkload, type EtaWorkloadName } from './eta-workloads.ts';

export interface EtaStatusFigures {
  /** Samples with an estimate. */
  readonly samples: number;
  readonly medianAbsError: number;
  readonly p90AbsError: number;
  /** Share of the samples with a range whose actual finish fell inside it (null: no sample had a range). */
  readonly coverage: number | null;
  /** The same of the samples whose handler had reported progress (processing only: it is what a rate is read from). */
  readonly withProgress?: { readonly samples: number; readonly medianAbsError: number; readonly p90AbsError: number };
}

export interface EtaScenarioFigures {
  readonly operations: number;
  readonly samples: number;
  /** Samples whose ETA was null (no basis yet). */
  readonly nullSamples: number;
  readonly pending: EtaStatusFigures;
  readonly processing: EtaStatusFigures;
  readonly coverage: number | null;
}

export type EtaFigures = Record<EtaWorkloadName, EtaScenarioFigures> & {
  /** Range coverage over every sample of every workload. */
  readonly coverage: number | null;
};

const SAMPLE_EVERY_MS = 200;
const WARMUP_TIMEOUT_MS = 120_000;

interface Sample {
  readonly id: string;
  readonly at: number;
  readonly status: string;
  readonly eta: number | null;
  readonly range: { readonly p10: number; readonly p90: number } | null;
  readonly progressed: boolean;
}

interface Read {
  readonly status: string;
  readonly progress: number | null;
  readonly finished_at: string | null;
  readonly estimated_completion_at: string | null;
  readonly estimated_completion_range?: { readonly p10: string; readonly p90: string } | null;
}

interface Scored {
  readonly status: string;
  readonly progressed: boolean;
  readonly error: number | null;
  readonly covered: boolean | null;
}

/** Every workload on a fresh store and server of its own; `seconds` is the length of each one's load. */
export async function measureEta(kind: StoreKind, seconds: number): Promise<EtaFigures> {
  const scored = new Map<EtaWorkloadName, Scored[]>();
  const figures: Partial<Record<EtaWorkloadName, EtaScenarioFigures>> = {};
  for (const [name, make] of Object.entries(ETA_WORKLOADS) as Array<[EtaWorkloadName, (s: number) => EtaWorkload]>) {
    const workload = make(seconds);
    const result = await runWorkload(kind, workload);
    scored.set(name, result.scored);
    figures[name] = summarise(workload.load.length, result.scored);
  }
  return { ...(figures as Record<EtaWorkloadName, EtaScenarioFigures>), coverage: coverageOf([...scored.values()].flat()) };
}

async function runWorkload(kind: StoreKind, workload: EtaWorkload): Promise<{ scored: Scored[] }> {
  const store = await freshStore(kind);
  try {
    const server = await startAsyncops('serve', { store: store.spec, concurrency: workload.concurrency, builtinTasks: workload.builtinTasks });
    try {
      // History first, unscored: the figures are for types the estimator has seen run (with none it says null).
      await Promise.all(workload.warmup.map((s) => submit(server.url, { type: s.type, input: s.input })));
      await waitIdle(server.url, WARMUP_TIMEOUT_MS);
      const open = new Set<string>();
      const finished = new Map<string, number>();
      const samples: Sample[] = [];
      let submitting = true;
      const sampler = (async () => {
        while (submitting || open.size > 0) {
          await Promise.all([...open].map((id) => sampleOne(server.url, id, open, finished, samples)));
          await new Promise((resolve) => setTimeout(resolve, SAMPLE_EVERY_MS));
        }
      })();
      const start = performance.now();
      for (const arrival of workload.load) {
        const wait = start + arrival.at - performance.now();
        if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
        open.add((await submit(server.url, { type: arrival.type, input: arrival.input })).id);
      }
      submitting = false;
      await sampler;
      return { scored: samples.map((s) => score(s, finished.get(s.id)!)) };
    } finally {
      await server.stop();
    }
  } finally {
    await store.dispose();
  }
}

async function sampleOne(base: string, id: string, open: Set<string>, finished: Map<string, number>, samples: Sample[]): Promise<void> {
  const sentAt = wallNow();
  const { body } = await json<Read>(`${base}/operations/${id}`);
  // The server computed the ETA somewhere between send and receipt.
  const at = (sentAt + wallNow()) / 2;
  if (body.status === 'pending' || body.status === 'processing') {
    const range = body.estimated_completion_range ?? null;
    samples.push({
      id,
      at,
      status: body.status,
      eta: body.estimated_completion_at === null ? null : Date.parse(body.estimated_completion_at),
      range: range === null ? null : { p10: Date.parse(range.p10), p90: Date.parse(range.p90) },
      progressed: body.progress !== null && body.progress > 0,
    });
  } else {
    open.delete(id);
    finished.set(id, Date.parse(body.finished_at!));
  }
}

function score(sample: Sample, actual: number): Scored {
  return {
    status: sample.status,
    progressed: sample.progressed,
    error: sample.eta === null ? null : Math.abs(sample.eta - actual) / Math.max(1, actual - sample.at),
    covered: sample.range === null ? null : sample.range.p10 <= actual && actual <= sample.range.p90,
  };
}

function summarise(operations: number, scored: readonly Scored[]): EtaScenarioFigures {
  const byStatus = (status: string): EtaStatusFigures => {
    const mine = scored.filter((s) => s.status === status);
    const errorsOf = (of: readonly Scored[]) => of.flatMap((s) => (s.error === null ? [] : [s.error]));
    const errors = errorsOf(mine);
    const progressed = errorsOf(mine.filter((s) => s.progressed));
    return {
      samples: errors.length,
      medianAbsError: round(percentile(errors, 50), 3),
      p90AbsError: round(percentile(errors, 90), 3),
      coverage: coverageOf(mine),
      ...(status === 'processing'
        ? {
            withProgress: {
              samples: progressed.length,
              medianAbsError: round(percentile(progressed, 50), 3),
              p90AbsError: round(percentile(progressed, 90), 3),
            },
          }
        : {}),
    };
  };
  return {
    operations,
    samples: scored.length,
    nullSamples: scored.filter((s) => s.error === null).length,
    pending: byStatus('pending'),
    processing: byStatus('processing'),
    coverage: coverageOf(scored),
  };
}

function coverageOf(scored: readonly Scored[]): number | null {
  const ranged = scored.filter((s) => s.covered !== null);
  return ranged.length === 0 ? null : round(ranged.filter((s) => s.covered).length / ranged.length, 3);
}
