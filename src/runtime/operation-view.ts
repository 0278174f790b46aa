// Owns: an operation as a read shows it: its resource with queue position and ETA (with its range), from the limits of the
// live worker nodes (the ETA's slots, and what a standing reads), each type's limit per concurrency key (as this node
// declares it) and each type's duration model (recent history blended with the declared prior); the nodes' limits and the
// models are re-read at most once a second.
// Not here: reading the store or the cache (operations.ts), HTTP headers drawn from a view (http/operation-headers.ts).
// Invariant: only a pending operation has a queue position; only a pending or processing one has an ETA.

import type { Clock } from '../domain/clock.ts';
import { capacityOf, typesCompete, WORKER_NODE_LIVE_MS, type Capacity } from '../domain/capacity.ts';
import {
  estimateCompletionRange,
  estimateDuration,
  DURATION_SAMPLE_LIMIT,
  type CompletionEstimate,
  type DurationEstimate,
  type EtaInput,
  type KeyQueue,
} from '../domain/eta.ts';
import type { Operation } from '../domain/operation.ts';
import type { Bucket, RateLimit } from '../domain/rate-limit.ts';
import { baseResource, withEstimates, type OperationResource } from '../domain/resource.ts';
import type { QueueStanding, StandingScope, Store } from '../store/store.ts';
import type { TaskRegistry } from './registry.ts';

export interface OperationView {
  readonly operation: Operation;
  readonly resource: OperationResource;
  /** When it is expected to end (ms since the epoch); null once terminal, or with nothing to go on yet. */
  readonly estimatedCompletionAt: number | null;
  /** The time the view was rendered at, which the ETA counts from. */
  readonly renderedAt: number;
}

/** Duration statistics and the worker nodes' limits are re-read at most this often; they move slowly. */
const DURATIONS_REFRESH_MS = 1000;
/**
 * The rate limits' buckets, for a pending operation of a rate-limited type, at most this old: each start since the read
 * is a token the bucket still shows while the queue position no longer counts it, an ETA a token interval early.
 */
const BUCKETS_REFRESH_MS = 100;
/** Costs of the operations ahead a standing reads for a type that declares a cost; past them, its mean duration counts. */
const COSTS_AHEAD_READ = 32;

export class OperationViews {
  readonly #store: Store;
  readonly #registry: TaskRegistry;
  readonly #clock: Clock;
  /** This process's own limits: the ETA's slots until a live worker node is known (an API-only node, a first start). */
  readonly #ownCapacity: Capacity;
  /** The live worker nodes' limits, summed: how many of each type, and of all, run at once. */
  #capacity: Capacity;
  /** What a standing reads, made from the capacity (a new object only when it changes). */
  #scope: StandingScope;
  #durations = new Map<string, DurationEstimate | null>();
  /** Rate limits: the stored buckets (with holds), re-read with the durations, and more often while one is asked for. */
  #buckets = new Map<string, Bucket>();
  #bucketsReadAt = -Infinity;
  #bucketsRead: Promise<void> | null = null;
  /** The worker nodes that announced themselves lately, as last read (with the durations), and when that read began. */
  #liveWorkers: ReadonlySet<string> = new Set();
  #liveWorkersReadAt = -Infinity;
  #durationsReadAt = -Infinity;

  readonly #basePath: string;
  /** Fairness: each tenant's share of turns, which positions count. */
  readonly #tenantWeights: ReadonlyMap<string, number> | undefined;

  /** `workerConcurrency`: the global concurrency of one worker process; `basePath`: where the API is mounted (links start with it). */
  constructor(options: {
    readonly store: Store;
    readonly registry: TaskRegistry;
    readonly clock: Clock;
    readonly workerConcurrency: number;
    readonly basePath?: string | undefined;
    readonly tenantWeights?: ReadonlyMap<string, number> | undefined;
  }) {
    this.#basePath = options.basePath ?? '';
    this.#tenantWeights = options.tenantWeights;
    this.#store = options.store;
    this.#registry = options.registry;
    this.#clock = options.clock;
    this.#ownCapacity = {
      global: options.workerConcurrency,
      perType: new Map(options.registry.list().map((task) => [task.type, Math.min(task.concurrency, options.workerConcurrency)])),
    };
    this.#capacity = this.#ownCapacity;
    this.#scope = this.#scopeOf(this.#ownCapacity);
  }

  /** What a standing reads: the running attempts of each type up to its slots, other types' too when they share a limit. */
  get scope(): StandingScope {
    return this.#scope;
  }

  #scopeOf(capacity: Capacity): StandingScope {
    const costsAhead = new Map(
      this.#registry
        .list()
        .filter((task) => task.costDeclared)
        .map((task) => [task.type, COSTS_AHEAD_READ]),
    );
    // Concurrency keys: an operation with a key reads its key's queue, up to its type's keyConcurrency running.
    const keyLimits = new Map(this.#registry.list().map((task) => [task.type, task.keyConcurrency]));
    return { runningLimits: capacity.perType, shared: typesCompete(capacity), costsAhead, tenantWeights: this.#tenantWeights, keyLimits };
  }

  /** The resource without queue position and ETA, which every render of the same stored state starts from. */
  /**
   * Its view with no queue position and no ETA (null), nothing read: for an operation just stored whose standing the
   * store could not tell (it stopped answering after the insert committed).
   */
  unestimated(op: Operation, includeInput: boolean): OperationView {
    const now = this.#clock.now();
    const resource = withEstimates(this.base(op, includeInput), op, { now, queuePosition: null, estimatedCompletionAt: null, estimatedCompletionRange: null });
    return { operation: op, resource, estimatedCompletionAt: null, renderedAt: now };
  }

  base(op: Operation, includeInput: boolean): OperationResource {
    return baseResource(op, this.#registry.get(op.type)?.route ?? null, includeInput, this.#basePath);
  }

  /** Duration models per type, from recent history blended with declared priors, and the nodes' limits; refreshed lazily. */
  async durationEstimates(): Promise<Map<string, DurationEstimate | null>> {
    const now = this.#clock.now();
    if (now - this.#durationsReadAt >= DURATIONS_REFRESH_MS) {
      this.#durationsReadAt = now;
      const [samples, nodes, buckets] = await Promise.all([
        this.#store.durationSamples({ limit: DURATION_SAMPLE_LIMIT }),
        this.#store.workerNodes({ since: now - WORKER_NODE_LIVE_MS }),
        this.#store.rateLimitBuckets(),
      ]);
      this.#keepBuckets(buckets, now);
      // Set together, once read: a render meanwhile judges by the set before and its own time.
      this.#liveWorkers = new Set(nodes.map((node) => node.id));
      this.#liveWorkersReadAt = now;
      const next = new Map<string, DurationEstimate | null>();
      // Types other nodes run are estimated too: their operations hold slots this node's types wait for.
      for (const [type, list] of samples) next.set(type, estimateDuration(list, null));
      for (const task of this.#registry.list()) {
        next.set(task.type, estimateDuration(samples.get(task.type) ?? [], task.estimatedDurationMs, task.costDeclared));
      }
      this.#durations = next;
      this.#useCapacity(capacityOf(nodes, now) ?? this.#ownCapacity);
    }
    return this.#durations;
  }

  #useCapacity(capacity: Capacity): void {
    const same =
      capacity.global === this.#capacity.global &&
      capacity.perType.size === this.#capacity.perType.size &&
      [...capacity.perType].every(([type, n]) => this.#capacity.perType.get(type) === n);
    if (same) return;
    this.#capacity = capacity;
    this.#scope = this.#scopeOf(capacity);
  }

  /** `fromTail`: the operation was just inserted, so its queue position is counted from the tail. */
  async view(op: Operation, { includeInput = true, fromTail = false }: { includeInput?: boolean; fromTail?: boolean } = {}): Promise<OperationView> {
    const now = this.#clock.now();
    const standing = op.status === 'pending' ? await this.#store.operationQueueStanding({ operation: op, now, scope: this.#scope, fromTail }) : null;
    return this.render(op, standing, now, this.base(op, includeInput));
  }

  /** Buckets read from `readAt` on, unless a read begun later was kept first (a slow read must not undo a newer one's). */
  #keepBuckets(buckets: Map<string, Bucket>, readAt: number): void {
    if (readAt < this.#bucketsReadAt) return;
    this.#buckets = buckets;
    this.#bucketsReadAt = readAt;
  }

  /** The buckets read again when older than BUCKETS_REFRESH_MS; reads asked for while one is under way share it. */
  async #freshBuckets(now: number): Promise<void> {
    if (now - this.#bucketsReadAt < BUCKETS_REFRESH_MS) return;
    this.#bucketsRead ??= this.#store.rateLimitBuckets().then(
      (buckets) => {
        this.#keepBuckets(buckets, now);
        this.#bucketsRead = null;
      },
      // A store that does not answer leaves the buckets as last read: the ETA is a token or so early, the read not refused.
      () => {
        this.#bucketsRead = null;
      },
    );
    await this.#bucketsRead;
  }

  /** Its type's rate limit (as this node declares it) and bucket, when it has either: the ETA's starts wait for tokens. */
  #rateLimitOf(type: string): { rate: RateLimit | null; bucket: Bucket | null } | undefined {
    const rate = this.#registry.get(type)?.rateLimit ?? null;
    const bucket = this.#buckets.get(type) ?? null;
    return rate === null && bucket === null ? undefined : { rate, bucket };
  }

  /**
   * A running attempt whose worker no longer announces itself (killed, cut off): it ends when its lease lapses. Judged
   * only of an attempt claimed before the nodes were last read, which its worker had announced itself for by then.
   */
  #orphaned(op: Operation): EtaInput['orphaned'] {
    if (op.status !== 'processing' || op.workerId === null || op.leaseExpiresAt === null || op.startedAt === null) return undefined;
    if (op.startedAt >= this.#liveWorkersReadAt || this.#liveWorkers.has(op.workerId)) return undefined;
    return { leaseExpiresAt: op.leaseExpiresAt, lastAttempt: op.attempt >= op.maxAttempts };
  }

  /** Its concurrency key's queue (from the standing) with the key's limit as this node declares it; none without a key. */
  #keyQueueOf(type: string, standing: QueueStanding | null): KeyQueue | undefined {
    const limit = this.#scope.keyLimits?.get(type);
    return standing?.key === undefined || limit === undefined ? undefined : { limit, ahead: standing.key.ahead, running: standing.key.running };
  }

  async render(op: Operation, standing: QueueStanding | null, now: number, base: OperationResource): Promise<OperationView> {
    // A pending operation read a moment ago may have been claimed since; then it has no standing, and no ETA yet.
    const queuePosition = op.status === 'pending' ? (standing?.position ?? null) : null;
    let eta: CompletionEstimate | null = null;
    if (op.status === 'pending' || op.status === 'processing') {
      const durations = await this.durationEstimates();
      if (op.status === 'pending' && (this.#registry.get(op.type)?.rateLimit ?? null) !== null) await this.#freshBuckets(now);
      eta = estimateCompletionRange({
        now,
        status: op.status,
        runAt: op.runAt,
        startedAt: op.startedAt,
        progress: op.progress,
        // Heartbeats do not touch updated_at, so while processing it is when the progress stored was reported.
        progressAt: op.updatedAt,
        progressAnchor: op.progressAnchor,
        queuePosition,
        concurrency: this.#capacity.perType.get(op.type) ?? 1,
        running: standing?.running,
        estimate: durations.get(op.type) ?? null,
        type: op.type,
        cost: op.cost,
        aheadCosts: standing?.aheadCosts,
        aheadOfOtherTypes: standing?.aheadOfOtherTypes,
        capacity: this.#capacity,
        estimates: durations,
        rateLimit: this.#rateLimitOf(op.type),
        key: this.#keyQueueOf(op.type, standing),
        orphaned: this.#orphaned(op),
      });
    }
    const resource = withEstimates(base, op, { now, queuePosition, estimatedCompletionAt: eta?.at ?? null, estimatedCompletionRange: eta });
    return { operation: op, resource, estimatedCompletionAt: eta?.at ?? null, renderedAt: now };
  }
}
