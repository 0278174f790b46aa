// Owns: an operation as a read shows it: its resource with queue position and ETA, from each type's running limit (the
// ETA's slots) and its typical duration (recent history blended with the declared prior, re-read at most once a second).
// Not here: reading the store or the cache (operations.ts), HTTP headers drawn from a view (http/operation-headers.ts).
// Invariant: only a pending operation has a queue position; only a pending or processing one has an ETA.

import type { Clock } from '../domain/clock.ts';
import { estimateCompletion, estimateDuration, DURATION_SAMPLE_LIMIT, type DurationEstimate } from '../domain/eta.ts';
import type { Operation } from '../domain/operation.ts';
import { baseResource, withEstimates, type OperationResource } from '../domain/resource.ts';
import type { QueueStanding, Store } from '../store/store.ts';
import type { TaskRegistry } from './registry.ts';

export interface OperationView {
  readonly operation: Operation;
  readonly resource: OperationResource;
  /** When it is expected to end (ms since the epoch); null once terminal, or with nothing to go on yet. */
  readonly estimatedCompletionAt: number | null;
  /** The time the view was rendered at, which the ETA counts from. */
  readonly renderedAt: number;
}

/** Duration statistics are re-read at most this often; they move slowly. */
const DURATIONS_REFRESH_MS = 1000;

export class OperationViews {
  readonly #store: Store;
  readonly #registry: TaskRegistry;
  readonly #clock: Clock;
  /** Per type: how many of its operations run at once (its limit, within one worker process's): the ETA's slots. */
  readonly #runningLimits: ReadonlyMap<string, number>;
  #durations = new Map<string, DurationEstimate | null>();
  #durationsReadAt = -Infinity;

  /** `workerConcurrency`: the global concurrency of one worker process. */
  constructor(options: { readonly store: Store; readonly registry: TaskRegistry; readonly clock: Clock; readonly workerConcurrency: number }) {
    this.#store = options.store;
    this.#registry = options.registry;
    this.#clock = options.clock;
    this.#runningLimits = new Map(options.registry.list().map((task) => [task.type, Math.min(task.concurrency, options.workerConcurrency)]));
  }

  get runningLimits(): ReadonlyMap<string, number> {
    return this.#runningLimits;
  }

  runningLimit(type: string): number {
    return this.#runningLimits.get(type) ?? 0;
  }

  /** The resource without queue position and ETA, which every render of the same stored state starts from. */
  base(op: Operation, includeInput: boolean): OperationResource {
    return baseResource(op, this.#registry.get(op.type)?.route ?? null, includeInput);
  }

  /** Typical durations per type, from recent history blended with declared priors; refreshed lazily. */
  async durationEstimates(): Promise<Map<string, DurationEstimate | null>> {
    const now = this.#clock.now();
    if (now - this.#durationsReadAt >= DURATIONS_REFRESH_MS) {
      this.#durationsReadAt = now;
      const samples = await this.#store.durationSamples({ limit: DURATION_SAMPLE_LIMIT });
      const next = new Map<string, DurationEstimate | null>();
      for (const task of this.#registry.list()) next.set(task.type, estimateDuration(samples.get(task.type) ?? [], task.estimatedDurationMs));
      this.#durations = next;
    }
    return this.#durations;
  }

  /** `fromTail`: the operation was just inserted, so its queue position is counted from the tail. */
  async view(op: Operation, { includeInput = true, fromTail = false }: { includeInput?: boolean; fromTail?: boolean } = {}): Promise<OperationView> {
    const now = this.#clock.now();
    const standing =
      op.status === 'pending' ? await this.#store.operationQueueStanding({ operation: op, now, runningLimit: this.runningLimit(op.type), fromTail }) : null;
    return this.render(op, standing, now, this.base(op, includeInput));
  }

  async render(op: Operation, standing: QueueStanding | null, now: number, base: OperationResource): Promise<OperationView> {
    // A pending operation read a moment ago may have been claimed since; then it has no standing, and no ETA yet.
    const queuePosition = op.status === 'pending' ? (standing?.position ?? null) : null;
    let eta: number | null = null;
    if (op.status === 'pending' || op.status === 'processing') {
      eta = estimateCompletion({
        now,
        status: op.status,
        runAt: op.runAt,
        startedAt: op.startedAt,
        progress: op.progress,
        // Heartbeats do not touch updated_at, so while processing it is when progress was last stored.
        progressAt: op.updatedAt,
        queuePosition,
        concurrency: this.#runningLimits.get(op.type) ?? 1,
        running: standing?.running,
        estimate: (await this.durationEstimates()).get(op.type) ?? null,
      });
    }
    const resource = withEstimates(base, op, { now, queuePosition, estimatedCompletionAt: eta });
    return { operation: op, resource, estimatedCompletionAt: eta, renderedAt: now };
  }
}
