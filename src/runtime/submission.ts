// Owns: the fields of a submit besides its type and input (webhook_url, timeout_s, priority, run_at, max_attempts,
// concurrency_key, and a tenant's ceiling on priority):
// their schema, which POST /operations publishes (http/schemas.ts builds its body from it), compiled once with the
// server's limits, and the values a draft takes from them. Not here: the type and input (registry.ts), the webhook
// URL's policy (the service's checkWebhookUrl). Invariant: a submit from any edge or embedder meets the route's rules.

import { Type } from '@sinclair/typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import { CONCURRENCY_KEY, MAX_ATTEMPTS, MAX_CONCURRENCY_KEY_LENGTH, MAX_URL_LENGTH, MIN_TIMEOUT_S, PRIORITY } from '../config/limits.ts';
import { parseDateTime } from '../domain/date-time.ts';
import { AsyncOpsError, validationFailed } from '../domain/errors.ts';
import { defaultPriority, priorityProblem } from '../domain/fairness.ts';
import type { RegisteredTask } from './registry.ts';
import { fieldErrorsOf } from './schema-errors.ts';

/** The submit fields as the route's body declares them (snake_case, as clients send them). */
export const SUBMIT_FIELDS = {
  webhook_url: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_URL_LENGTH, description: 'Absolute http(s) URL called when the operation ends' })),
  // Whole seconds: the stores keep an integer, so a fraction is refused here rather than failing at the insert.
  timeout_s: Type.Optional(
    Type.Integer({ minimum: MIN_TIMEOUT_S, description: "Max execution time of one attempt, whole seconds, at most the server's --max-timeout" }),
  ),
  priority: Type.Optional(Type.Integer({ minimum: PRIORITY.min, maximum: PRIORITY.max, description: 'Higher runs first' })),
  run_at: Type.Optional(Type.String({ format: 'date-time', description: 'Do not start before this time' })),
  max_attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_ATTEMPTS, description: "Attempts before it fails; default the task type's" })),
  concurrency_key: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: MAX_CONCURRENCY_KEY_LENGTH,
      pattern: CONCURRENCY_KEY.source,
      description:
        "A customer or account id: at most the task type's keyConcurrency operations with the same key run at once (across every node), and keys take turns",
    }),
  ),
};

/** The ceilings a server sets below the contract's own (`--max-timeout`; an embedder's `limits`). */
export interface SubmitLimits {
  readonly maxTimeoutS: number;
  readonly maxAttempts: number;
}

export interface SubmitFieldValues {
  readonly webhookUrl?: string | null | undefined;
  readonly timeoutS?: number | undefined;
  readonly priority?: number | undefined;
  /** RFC 3339. */
  readonly runAt?: string | undefined;
  readonly maxAttempts?: number | undefined;
  readonly concurrencyKey?: string | undefined;
}

export interface DraftFields {
  readonly webhookUrl: string | null;
  readonly timeoutS: number;
  readonly maxAttempts: number;
  readonly priority: number;
  /** Milliseconds since the epoch, as sent (the service decides what one in the past means). */
  readonly runAt: number | undefined;
  readonly concurrencyKey: string | null;
}

/**
 * The timeout an operation of `task` gets when its submit names none: the type's own, held to the configured ceiling
 * (only a value a client sent is refused for being over it). What GET /task-types shows, what a schedule's tick gets.
 */
export function defaultTimeoutS(task: Pick<RegisteredTask, 'timeoutS'>, maxTimeoutS: number): number {
  return Math.min(task.timeoutS, maxTimeoutS);
}

export class SubmitFields {
  readonly #limits: SubmitLimits;
  readonly #validate: ValidateFunction;

  constructor(limits: SubmitLimits) {
    this.#limits = limits;
    // verbose: a date-time's refusal is worded from the value (fieldErrorsOf).
    const ajv = new Ajv({ allErrors: true, strict: false, coerceTypes: false, verbose: true });
    // A date-time that names a real instant (domain/date-time.ts): ajv-formats' would let some through that do not.
    ajv.addFormat('date-time', { type: 'string', validate: (text: string) => parseDateTime(text) !== null });
    this.#validate = ajv.compile(
      Type.Object({
        ...SUBMIT_FIELDS,
        timeout_s: { ...SUBMIT_FIELDS.timeout_s, maximum: limits.maxTimeoutS },
        max_attempts: { ...SUBMIT_FIELDS.max_attempts, maximum: limits.maxAttempts },
      }),
    );
  }

  /**
   * The draft's values, a task's defaults filled in; throws validation_failed naming every field that breaks a rule.
   * `maxPriority`: the tenant's ceiling on priority (fairness: no tenant claims the head of every queue by itself).
   */
  check(values: SubmitFieldValues, task: RegisteredTask, maxPriority: number = PRIORITY.max): DraftFields {
    const fields = {
      webhookUrl: values.webhookUrl ?? null,
      timeoutS: values.timeoutS ?? defaultTimeoutS(task, this.#limits.maxTimeoutS),
      maxAttempts: values.maxAttempts ?? task.maxAttempts,
      priority: values.priority ?? defaultPriority(maxPriority),
    };
    const sent = {
      webhook_url: fields.webhookUrl ?? undefined,
      timeout_s: fields.timeoutS,
      priority: fields.priority,
      run_at: values.runAt,
      // What a client sends, not the type's own (defineTask allows up to 1000): the ceiling is on what clients ask for.
      max_attempts: values.maxAttempts,
      concurrency_key: values.concurrencyKey,
    };
    const defined = Object.fromEntries(Object.entries(sent).filter(([, value]) => value !== undefined));
    // One problem a field (a key too long also breaks the pattern's bound).
    const errors = this.#validate(defined)
      ? []
      : fieldErrorsOf(this.#validate.errors ?? [], '').filter((e, i, all) => all.findIndex((f) => f.path === e.path) === i);
    const priorityRefused = priorityProblem(fields.priority, maxPriority);
    if (priorityRefused !== null && !errors.some((e) => e.path === '/priority')) errors.push({ path: '/priority', message: priorityRefused });
    if (errors.length > 0) throw validationFailed(errors);
    return {
      ...fields,
      runAt: values.runAt === undefined ? undefined : (parseDateTime(values.runAt) ?? undefined),
      concurrencyKey: values.concurrencyKey ?? null,
    };
  }
}
