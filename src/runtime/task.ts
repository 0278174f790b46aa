// Owns: the task definition API (`defineTask`) and the handler context a task's `run` receives.
// Not here: running handlers (runtime/worker-pool.ts) or validating input (runtime/registry.ts).
// Invariant: a definition is plain data plus `run` (and `validate`); defineTask only checks and freezes it.

import type { Context, Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { FieldError } from '../domain/errors.ts';
import { jsonTextAt } from '../domain/json-values.ts';
import { unknownNameMessage } from '../domain/known-names.ts';
import { checkCron } from '../domain/schedule.ts';
import { checkRateLimit, type RateLimit } from '../domain/rate-limit.ts';
import { TASK_MAX } from '../config/limits.ts';

export interface TaskContext {
  /** Fires on timeout, cancel or shutdown past the grace period; `signal.reason` says which. */
  readonly signal: AbortSignal;
  /** Report progress (0..1) and an optional message; cheap to call often (writes are coalesced). */
  progress(fraction: number, message?: string): void;
  readonly attempt: number;
  readonly operationId: string;
  /** Scoped to the attempt: every line carries operation_id, type, attempt, and trace_id and span_id when there is a trace. */
  readonly log: Logger;
  /**
   * The attempt's `process` span (OpenTelemetry). The handler runs with it active, so spans its libraries make nest under
   * it; add attributes or events to it as to any span. A no-op span when no tracer provider is registered.
   */
  readonly span: Span;
  /** The OpenTelemetry context the handler runs in (its span active): for work the handler starts outside it. */
  readonly traceContext: Context;
}

/** A recurring schedule a task declares: an operation of the task with `input` at every tick (docs/schedules.md). */
export interface ScheduleDeclaration<Input = unknown> {
  /** Five fields (minute hour day-of-month month day-of-week), or six with seconds first. */
  readonly cron: string;
  /** The time zone the expression is read in: an IANA name, or a fixed UTC offset such as `+05:30` (default UTC). */
  readonly timezone?: string | undefined;
  /** Checked against the task's input schema at start-up; default `{}`. */
  readonly input?: Input | undefined;
}

/** A handler returns a JSON value, or an explicit body (text or bytes) with its content type. */
export type TaskResult = unknown | { contentType: string; body: string | ArrayBuffer | ArrayBufferView };

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
  /**
   * How many operations of this type with the same `concurrency_key` run at once, across every worker node and slot
   * (default: the server's `--key-concurrency`, 1). Operations without a key are not held to it.
   */
  readonly keyConcurrency?: number | undefined;
  /** Prior for the ETA before any history exists. */
  readonly estimatedDurationS?: number | undefined;
  /**
   * The size of one piece of work (days in a range, bytes of a file): the ETA learns the time per unit of this type and
   * uses it for operations of any size. Called once on submit, after `validate`; synchronous, and should not do I/O. A
   * value that is not a finite number ≥ 0 (or a throw) stores no cost, and the ETA falls back to recent durations.
   */
  readonly cost?: ((input: Input) => number) | undefined;
  /**
   * At most `limit` attempts of this type start per `intervalS` seconds, across all nodes (a token bucket kept in the
   * store: a burst of up to `limit`, then one every intervalS/limit s). The nodes that run the type should declare the same.
   */
  readonly rateLimit?: RateLimit | undefined;
  /** Retry a timed-out attempt (default false: a timeout fails the operation). */
  readonly retryOnTimeout?: boolean | undefined;
  /** Run it on a schedule (or several): one operation per tick across all nodes, in the default tenant. */
  readonly schedule?: ScheduleDeclaration<Input> | readonly ScheduleDeclaration<Input>[] | undefined;
  run(input: Input, ctx: TaskContext): Promise<TaskResult> | TaskResult;
}

const TYPE_PATTERN = /^[a-z][a-z0-9_.-]{0,63}$/;
/**
 * What a definition and a schedule declaration take: any other name is refused, as a misspelt option would be ignored.
 * The types make each list name every key, no more and no fewer, as createAsyncOps's option names do (embed.ts).
 */
const DEFINITION_NAMES = Object.keys({
  type: true,
  route: true,
  input: true,
  description: true,
  validate: true,
  timeoutS: true,
  maxAttempts: true,
  concurrency: true,
  keyConcurrency: true,
  estimatedDurationS: true,
  cost: true,
  rateLimit: true,
  retryOnTimeout: true,
  schedule: true,
  run: true,
} satisfies Record<keyof TaskDefinition, true>);
const SCHEDULE_NAMES = Object.keys({ cron: true, timezone: true, input: true } satisfies Record<keyof ScheduleDeclaration, true>);
const ROUTE_PATTERN = /^\/[a-z0-9][a-z0-9_-]*(\/[a-z0-9][a-z0-9_-]*)*$/;

/**
 * A schema that carries its TypeScript type, as every TypeBox schema does (`Static<typeof schema>` is its `static`):
 * read structurally, so the declarations name no TypeBox version.
 */
export interface TypedSchema {
  readonly static: unknown;
}

/** A definition whose `input` is a TypeBox schema: `run`, `validate` and `cost` receive the type the schema describes. */
export type TypedTaskDefinition<Schema extends TypedSchema> = Omit<TaskDefinition<Schema['static']>, 'input'> & { readonly input: Schema };

/**
 * Checks a task definition and freezes it. With a TypeBox schema as `input`, the handler's input type is the
 * schema's (`defineTask({ input: Type.Object({ n: Type.Number() }), run: (input) => input.n })`); with a plain JSON
 * schema, name it: `defineTask<{ n: number }>({ … })`.
 */
export function defineTask<const Schema extends TypedSchema>(definition: TypedTaskDefinition<Schema>): TaskDefinition<Schema['static']>;
// biome-ignore lint/suspicious/noExplicitAny: as TaskDefinition: the default for a definition whose input is not typed.
export function defineTask<Input = any>(
  // A TypeBox schema the first overload refused (a schedule's input or a validate typed otherwise) must not pass here
  // with Input inferred from those instead: its `static` has to be the Input, as `defineTask<Static<typeof S>>` gives.
  definition: TaskDefinition<Input> & { readonly input?: { readonly static?: Input } | undefined },
): TaskDefinition<Input>;
export function defineTask(definition: TaskDefinition): TaskDefinition {
  checkTaskDefinition(definition);
  return Object.freeze({ ...definition });
}

/**
 * Throws a TypeError naming the first thing wrong with a definition. The registry calls it too, so a
 * task module that skips defineTask still fails at start-up, not at its first submit.
 */
export function checkTaskDefinition(definition: TaskDefinition): void {
  // `tasks: 5` (or a module exporting something else) would otherwise be blamed on a type "undefined".
  if (definition === null || typeof definition !== 'object') {
    throw new TypeError(`a task is an object as defineTask makes one, not ${definition === null ? 'null' : typeof definition}`);
  }
  // test() would read undefined as "undefined", a name the pattern takes.
  if (typeof definition.type !== 'string' || !TYPE_PATTERN.test(definition.type)) {
    throw new TypeError(`defineTask: type "${definition.type}" must match ${TYPE_PATTERN}`);
  }
  const unknownName = unknownNameMessage(definition, DEFINITION_NAMES, `defineTask(${definition.type})`);
  if (unknownName !== null) throw new TypeError(unknownName);
  if (definition.route !== undefined && !ROUTE_PATTERN.test(definition.route)) {
    throw new TypeError(`defineTask(${definition.type}): route "${definition.route}" must look like /reports`);
  }
  // timeout_s is stored as whole seconds, and a fractional count of attempts or slots means nothing.
  for (const [name, value, unit, max] of [
    ['timeoutS', definition.timeoutS, ' (whole seconds)', TASK_MAX.timeoutS],
    ['maxAttempts', definition.maxAttempts, '', TASK_MAX.maxAttempts],
    ['concurrency', definition.concurrency, '', TASK_MAX.concurrency],
    ['keyConcurrency', definition.keyConcurrency, '', TASK_MAX.keyConcurrency],
  ] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1 && value <= max)) {
      throw new TypeError(`defineTask(${definition.type}): ${name} must be a positive integer up to ${max}${unit}, not ${String(value)}`);
    }
  }
  const prior = definition.estimatedDurationS;
  if (prior !== undefined && !(typeof prior === 'number' && Number.isFinite(prior) && prior > 0)) {
    throw new TypeError(`defineTask(${definition.type}): estimatedDurationS must be a positive number`);
  }
  // Read as `=== true`: a 'true' from an environment variable would otherwise mean no retries, without a word.
  if (definition.retryOnTimeout !== undefined && typeof definition.retryOnTimeout !== 'boolean') {
    throw new TypeError(
      `defineTask(${definition.type}): retryOnTimeout must be true or false, not ${JSON.stringify(definition.retryOnTimeout) ?? String(definition.retryOnTimeout)}`,
    );
  }
  if (definition.validate !== undefined && typeof definition.validate !== 'function') {
    throw new TypeError(`defineTask(${definition.type}): validate must be a function`);
  }
  if (definition.cost !== undefined && typeof definition.cost !== 'function') {
    throw new TypeError(`defineTask(${definition.type}): cost must be a function`);
  }
  if (definition.rateLimit !== undefined) checkRateLimit(`defineTask(${definition.type})`, definition.rateLimit);
  for (const [index, declared] of declaredSchedulesOf(definition).entries()) {
    const where = `defineTask(${definition.type}): schedule${Array.isArray(definition.schedule) ? `[${index}]` : ''}`;
    if (typeof declared !== 'object' || declared === null || typeof declared.cron !== 'string') throw new TypeError(`${where} needs a cron string`);
    // `timeZone`, as Intl spells it, would otherwise be ignored and the schedule read in UTC.
    const unknownInSchedule = unknownNameMessage(declared, SCHEDULE_NAMES, where);
    if (unknownInSchedule !== null) throw new TypeError(unknownInSchedule);
    if (declared.timezone !== undefined && typeof declared.timezone !== 'string') throw new TypeError(`${where}: timezone must be a string`);
    // Stored as JSON text: what JSON would change (NaN, an invalid Date, a Map) is refused, as a submit's input is.
    if (declared.input !== undefined) {
      const text = jsonTextAt(declared.input, '/input');
      if ('problem' in text) throw new TypeError(`${where}: ${text.problem.path.slice(1)} ${text.problem.message}`);
    }
    const problem = checkCron(declared.cron, declared.timezone ?? 'UTC')[0];
    if (problem !== undefined) throw new TypeError(`${where}: ${problem.path.slice(1)} ${problem.message}`);
  }
  if (typeof definition.run !== 'function') throw new TypeError(`defineTask(${definition.type}): run must be a function`);
}

/** The schedules a definition declares, as a list (none, one or several). */
export function declaredSchedulesOf(definition: TaskDefinition): readonly ScheduleDeclaration[] {
  const declared = definition.schedule;
  if (declared === undefined) return [];
  return Array.isArray(declared) ? declared : [declared as ScheduleDeclaration];
}
