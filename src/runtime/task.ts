// Owns: the task definition API (`defineTask`) and the handler context a task's `run` receives.
// Not here: running handlers (runtime/worker-pool.ts) or validating input (runtime/registry.ts).
// Invariant: a definition is plain data plus `run` (and `validate`); defineTask only checks and freezes it.

import type { Logger } from 'pino';
import type { FieldError } from '../domain/errors.ts';

export interface TaskContext {
  /** Fires on timeout, cancel or shutdown past the grace period; `signal.reason` says which. */
  readonly signal: AbortSignal;
  /** Report progress (0..1) and an optional message; cheap to call often (writes are coalesced). */
  progress(fraction: number, message?: string): void;
  readonly attempt: number;
  readonly operationId: string;
  readonly log: Logger;
}

/** A handler returns a JSON value, or an explicit body with its content type. */
export type TaskResult = unknown | { contentType: string; body: Buffer | string };

// biome-ignore lint/suspicious/noExplicitAny: a registry holds definitions of every input type; `unknown` would make their handlers unassignable.
export interface TaskDefinition<Input = any> {
  readonly type: string;
  /** Optional collection route, e.g. `/reports`: POST /reports, POST /reports/async, GET /reports/{id}. */
  readonly route?: string | undefined;
  /** JSON schema of the input (TypeBox schemas are JSON schemas). */
  readonly input?: Record<string, unknown> | undefined;
  readonly description?: string | undefined;
  /**
   * Checks the schema cannot express (a date that exists, a range in order), run on submit after the
   * schema passed, before anything is stored. Returns the problems, `[]` when there are none; paths
   * are JSON pointers into the input (`/date_range`). Synchronous, and must not throw.
   */
  readonly validate?: ((input: Input) => readonly FieldError[]) | undefined;
  /** Whole seconds one attempt may run. */
  readonly timeoutS?: number | undefined;
  readonly maxAttempts?: number | undefined;
  /** How many of this type run at once in one worker process. */
  readonly concurrency?: number | undefined;
  /** Prior for the ETA before any history exists. */
  readonly estimatedDurationS?: number | undefined;
  /** Retry a timed-out attempt (default false: a timeout fails the operation). */
  readonly retryOnTimeout?: boolean | undefined;
  run(input: Input, ctx: TaskContext): Promise<TaskResult> | TaskResult;
}

const TYPE_PATTERN = /^[a-z][a-z0-9_.-]{0,63}$/;
const ROUTE_PATTERN = /^\/[a-z0-9][a-z0-9_-]*(\/[a-z0-9][a-z0-9_-]*)*$/;

// biome-ignore lint/suspicious/noExplicitAny: as TaskDefinition: the default for a definition whose input is not typed.
export function defineTask<Input = any>(definition: TaskDefinition<Input>): TaskDefinition<Input> {
  checkTaskDefinition(definition);
  return Object.freeze({ ...definition });
}

/**
 * Throws a TypeError naming the first thing wrong with a definition. The registry calls it too, so a
 * task module that skips defineTask still fails at start-up, not at its first submit.
 */
export function checkTaskDefinition(definition: TaskDefinition): void {
  if (!TYPE_PATTERN.test(definition.type)) {
    throw new TypeError(`defineTask: type "${definition.type}" must match ${TYPE_PATTERN}`);
  }
  if (definition.route !== undefined && !ROUTE_PATTERN.test(definition.route)) {
    throw new TypeError(`defineTask(${definition.type}): route "${definition.route}" must look like /reports`);
  }
  // timeout_s is stored as whole seconds, and a fractional count of attempts or slots means nothing.
  for (const [name, value, unit] of [
    ['timeoutS', definition.timeoutS, ' (whole seconds)'],
    ['maxAttempts', definition.maxAttempts, ''],
    ['concurrency', definition.concurrency, ''],
  ] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1)) {
      throw new TypeError(`defineTask(${definition.type}): ${name} must be a positive integer${unit}, not ${String(value)}`);
    }
  }
  const prior = definition.estimatedDurationS;
  if (prior !== undefined && !(typeof prior === 'number' && Number.isFinite(prior) && prior > 0)) {
    throw new TypeError(`defineTask(${definition.type}): estimatedDurationS must be a positive number`);
  }
  if (definition.validate !== undefined && typeof definition.validate !== 'function') {
    throw new TypeError(`defineTask(${definition.type}): validate must be a function`);
  }
  if (typeof definition.run !== 'function') throw new TypeError(`defineTask(${definition.type}): run must be a function`);
}
