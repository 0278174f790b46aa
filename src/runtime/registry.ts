// Owns: the registered task types: lookup by type and by route, per-type defaults, input validation.
// Not here: running handlers (worker-pool.ts), HTTP routing (http/).
// Invariant: an input is checked against its type's JSON schema, then its own `validate`, before anything is stored.

import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { AsyncOpsError, type FieldError } from '../domain/errors.ts';
import type { RateLimit } from '../domain/rate-limit.ts';
import { TASK_DEFAULTS } from '../config/limits.ts';
import { DEFAULTS } from '../config/settings.ts';
import { checkTaskDefinition, declaredSchedulesOf, type TaskDefinition } from './task.ts';
import { fieldErrorsOf } from './schema-errors.ts';

// ajv-formats ships CommonJS with a default export; under NodeNext the callable sits on `.default`.
type AddFormats = (ajv: Ajv) => Ajv;
const addFormats: AddFormats = (addFormatsModule as unknown as { default: AddFormats }).default;

export interface TaskDefaults {
  readonly timeoutS: number;
  readonly maxAttempts: number;
  /** Per-type concurrency when the type does not set one (capped by the global limit). */
  readonly concurrency: number;
  /** Running operations per concurrency key when the type does not set keyConcurrency (absent: `--key-concurrency`'s default). */
  readonly keyConcurrency?: number | undefined;
}

export const DEFAULT_TASK_DEFAULTS: TaskDefaults = { ...TASK_DEFAULTS, concurrency: DEFAULTS.concurrency, keyConcurrency: DEFAULTS.keyConcurrency };

export interface RegisteredTask {
  readonly definition: TaskDefinition;
  readonly type: string;
  readonly route: string | null;
  readonly timeoutS: number;
  readonly maxAttempts: number;
  readonly concurrency: number;
  readonly estimatedDurationMs: number | null;
  /** It declares the size of its work (`cost`): the ETA learns its time per unit. */
  readonly costDeclared: boolean;
  /** Its execution rate limit across all nodes (null: none). */
  readonly rateLimit: RateLimit | null;
  /** Fairness: running operations of this type per concurrency key, across all nodes. */
  readonly keyConcurrency: number;
  readonly inputSchema: Record<string, unknown>;
}

/**
 * The first path segments the API answers itself (test/http checks this against the routes an app registers). A task's
 * route under one would shadow the API's, or be taken for one of its open paths (/docs, /dashboard) and answer
 * without a key.
 */
export const API_PATH_SEGMENTS: readonly string[] = [
  'bulk-actions',
  'dashboard',
  'docs',
  'healthz',
  'metrics',
  'openapi.json',
  'operations',
  'readyz',
  'schedules',
  'stats',
  'task-types',
  'webhook-deliveries',
  'whoami',
];

export class TaskRegistry {
  readonly #byType = new Map<string, RegisteredTask>();
  readonly #byRoute = new Map<string, RegisteredTask>();
  readonly #validators = new Map<string, ValidateFunction>();
  readonly #ajv: Ajv;
  readonly #defaults: TaskDefaults;

  constructor(definitions: readonly TaskDefinition[], defaults: TaskDefaults = DEFAULT_TASK_DEFAULTS) {
    this.#defaults = defaults;
    this.#ajv = new Ajv({ allErrors: true, strict: false, coerceTypes: false, useDefaults: true });
    addFormats(this.#ajv);
    for (const definition of definitions) this.#register(definition);
  }

  #register(definition: TaskDefinition): void {
    checkTaskDefinition(definition);
    if (this.#byType.has(definition.type)) throw new TypeError(`task type "${definition.type}" is registered twice`);
    const route = definition.route ?? null;
    if (route !== null && (this.#byRoute.has(route) || API_PATH_SEGMENTS.includes(route.split('/')[1]!))) {
      throw new TypeError(`task type "${definition.type}": route ${route} is taken (the API's own paths: /${API_PATH_SEGMENTS.join(', /')})`);
    }
    const inputSchema = definition.input ?? {};
    const task: RegisteredTask = {
      definition,
      type: definition.type,
      route,
      timeoutS: definition.timeoutS ?? this.#defaults.timeoutS,
      maxAttempts: definition.maxAttempts ?? this.#defaults.maxAttempts,
      concurrency: definition.concurrency ?? this.#defaults.concurrency,
      estimatedDurationMs: definition.estimatedDurationS === undefined ? null : definition.estimatedDurationS * 1000,
      costDeclared: definition.cost !== undefined,
      rateLimit: definition.rateLimit ?? null,
      keyConcurrency: definition.keyConcurrency ?? this.#defaults.keyConcurrency ?? DEFAULTS.keyConcurrency,
      inputSchema,
    };
    this.#validators.set(definition.type, this.#compile(definition.type, inputSchema));
    this.#byType.set(task.type, task);
    if (route !== null) this.#byRoute.set(route, task);
    // A declared schedule's input is checked now, so a bad one fails at start-up rather than skipping every tick.
    for (const [index, declared] of declaredSchedulesOf(definition).entries()) {
      const problem = this.validateInput(task.type, structuredClone(declared.input ?? {}))[0];
      if (problem !== undefined) throw new TypeError(`task type "${task.type}": schedule ${index} input: ${problem.path} ${problem.message}`);
    }
  }

  get(type: string): RegisteredTask | undefined {
    return this.#byType.get(type);
  }

  /** The type registered as `type`, or the `unknown_task_type` problem (422) naming the types there are. */
  require(type: string): RegisteredTask {
    const task = this.#byType.get(type);
    if (task !== undefined) return task;
    const types = [...this.#byType.keys()].join(', ');
    // A server started with no types at all (--no-builtin-tasks and no --tasks) says so, not "one of:" and nothing.
    const message = types === '' ? 'names no type: this server has none registered' : `must be one of: ${types}`;
    throw new AsyncOpsError('unknown_task_type', `unknown task type "${type}"`, { errors: [{ path: '/type', message }] });
  }

  byRoute(route: string): RegisteredTask | undefined {
    return this.#byRoute.get(route);
  }

  list(): RegisteredTask[] {
    return [...this.#byType.values()];
  }

  /**
   * The size of the work `input` asks of its type, as the type's `cost` declares it; null when it declares none, or when
   * its answer is not a finite number ≥ 0 or it throws (an ETA aid must never fail a submit).
   */
  costOf(type: string, input: unknown): number | null {
    const cost = this.#byType.get(type)?.definition.cost;
    if (cost === undefined) return null;
    try {
      const value: unknown = cost(input);
      return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null;
    } catch {
      return null;
    }
  }

  /** An input schema that does not compile names its task: a module of several says which one. */
  #compile(type: string, inputSchema: Record<string, unknown>): ValidateFunction {
    try {
      return this.#ajv.compile(inputSchema);
    } catch (error) {
      throw new TypeError(`task type "${type}": its input schema does not compile: ${(error as Error).message}`);
    }
  }

  /**
   * Field errors of `input` against the type's schema, then (once the schema passed, so it sees the shape
   * it declared) the type's own `validate`; paths under `/input`; empty when valid.
   */
  validateInput(type: string, input: unknown): FieldError[] {
    const validate = this.#validators.get(type);
    if (validate === undefined) return [{ path: '/type', message: `unknown task type "${type}"` }];
    if (!validate(input)) return fieldErrorsOf(validate.errors ?? [], '/input');
    const own = this.#byType.get(type)?.definition.validate?.(input) ?? [];
    // A validate in JavaScript may give a problem without a path, or a message that is not text: the input as a whole,
    // and the message as text (a 400 either way, never a 500 from the problem's shape).
    return (Array.isArray(own) ? own : []).map((e) => {
      const path = typeof e?.path === 'string' ? e.path : '';
      return { path: `/input${path === '' || path.startsWith('/') ? path : `/${path}`}`, message: String(e?.message ?? 'is not valid') };
    });
  }
}
