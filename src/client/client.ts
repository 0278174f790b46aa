// Owns: AsyncOpsClient, one typed method per route of the asyncops HTTP contract (DESIGN §1, §6).
// Not here: the HTTP exchange and retries (transport.ts), wait pacing (wait.ts), webhook signatures (signing/webhook-signature.ts).
// Invariant: only requests that are safe to repeat are retried — reads, and a submit that carries an Idempotency-Key.

import { OPERATION, operationNamed, PAGE, retryAfterSeconds, textOf, Transport, type Reply, type TransportOptions } from './transport.ts';
import type {
  ConditionalOptions,
  AcceptedOperation,
  BulkAction,
  BulkActionKind,
  BulkFilter,
  CreateScheduleOptions,
  Delivery,
  DeliveryListOptions,
  DeliveryWithAttempts,
  EventsOptions,
  HistoryEvent,
  HistoryOptions,
  ListOptions,
  Operation,
  OperationCount,
  OperationEvent,
  OperationResult,
  Overview,
  Page,
  Schedule,
  ScheduleDetail,
  ScheduleListOptions,
  StreamToken,
  SubmitOptions,
  TaskType,
  WaitOptions,
  Whoami,
} from './types.ts';
import { operationEvents } from './events.ts';
import { waitForTerminal, type StatusReply, type StatusRequest } from './wait.ts';
import { timeOfDate } from '../json/unkept-values.ts';

/** A result's text as it was sent: a byte-order mark at its start is kept (json() reads past it). */
const TEXT_AS_SENT = new TextDecoder('utf-8', { ignoreBOM: true });

/** baseUrl, apiKey, fetch, userAgent, timeoutMs and retry — documented on TransportOptions. */
export type AsyncOpsClientOptions = TransportOptions;

export class AsyncOpsClient {
  #http: Transport;

  /** Throws TypeError for a baseUrl that is not http(s) or that carries user:password@. */
  constructor(options: AsyncOpsClientOptions) {
    this.#http = new Transport(options);
  }

  get baseUrl(): string {
    return this.#http.baseUrl;
  }

  /** `POST /operations`: the accepted operation (finished already if `waitS` was given and it completed in time). */
  async submit(type: string, input: unknown, options: SubmitOptions = {}): Promise<Operation> {
    const { waitS } = options;
    // The server reads `wait=N` in whole seconds and ignores anything else: the call would not wait, without a word.
    if (waitS !== undefined && !(Number.isSafeInteger(waitS) && waitS >= 0)) {
      throw new TypeError(`submit: waitS must be a whole number of seconds, 0 or more (got ${String(waitS)})`);
    }
    const reply = await this.#submit(type, input, options, waitS === undefined ? undefined : `wait=${waitS}`);
    return tagged(this.#http.json<Operation>(reply, OPERATION), reply);
  }

  /**
   * `POST /operations` with `Prefer: return=minimal`: where the new operation is (its id and Location), without its
   * resource. The server reads neither its queue position nor its ETA for it, so the reply comes sooner and carries no
   * body; `get` or `wait` follow it.
   */
  async submitMinimal(type: string, input: unknown, options: Omit<SubmitOptions, 'waitS'> = {}): Promise<AcceptedOperation> {
    const reply = await this.#submit(type, input, options, 'return=minimal');
    const location = this.#http.location(reply);
    return {
      id: decodeURIComponent(location.slice(location.lastIndexOf('/') + 1)),
      location,
      etag: reply.headers.get('etag'),
      replayed: reply.headers.get('idempotent-replayed') === 'true',
    };
  }

  #submit(type: string, input: unknown, options: SubmitOptions, prefer: string | undefined): Promise<Reply> {
    const headers: Record<string, string> = {};
    if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
    if (prefer !== undefined) headers.prefer = prefer;
    const runAt = dateTime(options.runAt, 'runAt');
    const body = {
      type,
      input,
      webhook_url: options.webhookUrl,
      timeout_s: options.timeoutS,
      priority: options.priority,
      run_at: runAt,
      max_attempts: options.maxAttempts,
      concurrency_key: options.concurrencyKey,
    };
    return this.#http.send({
      method: 'POST',
      path: '/operations',
      body,
      headers,
      signal: options.signal,
      holdMs: (options.waitS ?? 0) * 1000,
      retry: options.idempotencyKey !== undefined,
    });
  }

  /** `GET /operations/{id}`. */
  async get(id: string, options: { signal?: AbortSignal | undefined } = {}): Promise<Operation> {
    const reply = await this.#http.send({ method: 'GET', path: operationPath(id), signal: options.signal, retry: true });
    return tagged(this.#http.json<Operation>(reply, operationNamed(id)), reply);
  }

  /**
   * Resolves with the operation once it is terminal (completed, failed or cancelled — check `status`).
   * Long-polls when the server honours `Prefer: wait`, else polls as `Retry-After` says; never two status
   * requests within 1 s, except right after a long-poll that returned early because the operation changed.
   */
  wait(id: string, options: WaitOptions = {}): Promise<Operation> {
    return waitForTerminal(id, (request) => this.#status(id, request), options);
  }

  /**
   * `GET /operations/{id}/events`: each change of the operation as it is stored (a `status` or `progress` event with
   * the operation and its version), the current state first, until the terminal event. A stream that breaks or ends
   * early (a server stopping, a proxy's idle cut, `idleTimeoutMs` of silence) is resumed with Last-Event-ID; `break`
   * out of the loop or abort `signal` to stop. Over fetch, so it sends the API key: a browser page's `EventSource`
   * needs `streamToken` instead.
   */
  events(id: string, options: EventsOptions = {}): AsyncGenerator<OperationEvent, void, undefined> {
    return operationEvents(this.#http, id, `${operationPath(id)}/events`, options);
  }

  /**
   * `POST /operations/{id}/stream-token`: a token that opens this operation's event stream for a few minutes, for an
   * `EventSource` (which cannot send Authorization): open `/operations/{id}/events?token=<token>` with it.
   */
  async streamToken(id: string): Promise<StreamToken> {
    const reply = await this.#http.send({ method: 'POST', path: `${operationPath(id)}/stream-token` });
    return this.#http.json<StreamToken>(reply, (value) => typeof value['token'] === 'string' && typeof value['expires_at'] === 'string');
  }

  /** `GET /operations/{id}/result`: the result bytes with their content type. 409 while not completed, 410 once expired. */
  async result(id: string, options: { signal?: AbortSignal | undefined } = {}): Promise<OperationResult> {
    const reply = await this.#http.send({
      method: 'GET',
      path: `${operationPath(id)}/result`,
      headers: { accept: '*/*' },
      signal: options.signal,
      retry: true,
    });
    const body = reply.body;
    return {
      contentType: reply.headers.get('content-type') ?? 'application/octet-stream',
      body,
      text: () => TEXT_AS_SENT.decode(body),
      json: <T>() => JSON.parse(textOf(body)) as T,
    };
  }

  /**
   * `POST /operations/{id}/cancel`: the operation, cancelled or cancelling. 409 if already terminal. With `ifMatch`,
   * only while it is still as read (docs/http-api.md, Conditional changes), else AsyncOpsApiError 412.
   */
  async cancel(id: string, options: ConditionalOptions = {}): Promise<Operation> {
    const reply = await this.#http.send({ method: 'POST', path: `${operationPath(id)}/cancel`, headers: ifMatchHeader(options.ifMatch) });
    return tagged(this.#http.json<Operation>(reply, operationNamed(id)), reply);
  }

  /**
   * `POST /operations/{id}/retry`: a failed or cancelled operation runs again as a fresh run (back to pending, attempts
   * from 1, its webhook sent again when it ends). Another status: AsyncOpsApiError 409 `not_redrivable`. `priority`: the
   * one it runs at (within its tenant's ceiling); absent, it keeps its own.
   */
  async retry(id: string, options: { priority?: number | undefined } & ConditionalOptions = {}): Promise<Operation> {
    const body = options.priority === undefined ? undefined : { priority: options.priority };
    const reply = await this.#http.send({ method: 'POST', path: `${operationPath(id)}/retry`, body, headers: ifMatchHeader(options.ifMatch) });
    return tagged(this.#http.json<Operation>(reply, operationNamed(id)), reply);
  }

  /**
   * `POST /bulk-actions`: retries, cancels or deletes every operation `filter` selects (or replays the dead deliveries
   * it selects), in the background; follow it with `getBulkAction`. `priority` (retry only): the one each redriven
   * operation takes; a low one (say -10) lets live traffic go first. Absent, each keeps its own.
   */
  async createBulkAction(action: BulkActionKind, filter: BulkFilter = {}, options: { priority?: number | undefined } = {}): Promise<BulkAction> {
    const body = { action, filter, ...(options.priority === undefined ? {} : { priority: options.priority }) };
    return this.#http.json<BulkAction>(await this.#http.send({ method: 'POST', path: '/bulk-actions', body }));
  }

  /** `POST /bulk-actions` with `dry_run`: how many `filter` selects now; nothing changes. */
  async countBulkAction(action: BulkActionKind, filter: BulkFilter = {}): Promise<number> {
    const reply = await this.#http.send({ method: 'POST', path: '/bulk-actions', body: { action, filter, dry_run: true }, retry: true });
    return this.#http.json<{ count: number }>(reply).count;
  }

  /** `GET /bulk-actions/{id}`: its status and counts. */
  async getBulkAction(id: string, options: { signal?: AbortSignal | undefined } = {}): Promise<BulkAction> {
    return this.#http.json<BulkAction>(await this.#http.send({ method: 'GET', path: `/bulk-actions/${idSegment(id)}`, signal: options.signal, retry: true }));
  }

  /** `GET /bulk-actions`: one page, newest first (an admin key's: every tenant's, or `tenant`'s). */
  async listBulkActions(options: { limit?: number | undefined; cursor?: string | undefined; tenant?: string | undefined } = {}): Promise<Page<BulkAction>> {
    const query = { limit: options.limit, cursor: options.cursor, tenant: options.tenant };
    return this.#http.json<Page<BulkAction>>(await this.#http.send({ method: 'GET', path: '/bulk-actions', query, retry: true }), PAGE);
  }

  /** `DELETE /operations/{id}`: removes a terminal operation and its result (with `ifMatch`: only while still as read). */
  async delete(id: string, options: ConditionalOptions = {}): Promise<void> {
    await this.#http.send({ method: 'DELETE', path: operationPath(id), headers: ifMatchHeader(options.ifMatch) });
  }

  /** `GET /operations`: one page, newest first, of the operations every filter given matches. */
  async list(options: ListOptions = {}): Promise<Page<Operation>> {
    const query = {
      status: options.status,
      type: options.type,
      error_code: options.errorCode,
      schedule_id: options.scheduleId,
      created_after: dateTime(options.createdAfter, 'createdAfter'),
      created_before: dateTime(options.createdBefore, 'createdBefore'),
      q: options.q,
      tenant: options.tenant,
      limit: options.limit,
      cursor: options.cursor,
    };
    return this.#http.json<Page<Operation>>(await this.#http.send({ method: 'GET', path: '/operations', query, retry: true }), PAGE);
  }

  /** `GET /operations/counts`: how many operations there are per type and status (an admin key's: every tenant's, or `tenant`'s). */
  async counts(options: { tenant?: string | undefined } = {}): Promise<OperationCount[]> {
    const reply = await this.#http.send({ method: 'GET', path: '/operations/counts', query: { tenant: options.tenant }, retry: true });
    return this.#http.json<{ items: OperationCount[] }>(reply, PAGE).items;
  }

  /** `GET /stats/overview`: per type, what waits, runs and failed, and how the last `windowS` seconds (default 3600) went. */
  async overview(options: { windowS?: number | undefined; tenant?: string | undefined } = {}): Promise<Overview> {
    const query = { window_s: options.windowS, tenant: options.tenant };
    return this.#http.json<Overview>(await this.#http.send({ method: 'GET', path: '/stats/overview', query, retry: true }));
  }

  /** `GET /whoami`: the tenant of the key this client sends, and whether it is an admin key. */
  async whoami(): Promise<Whoami> {
    return this.#http.json<Whoami>(await this.#http.send({ method: 'GET', path: '/whoami', retry: true }));
  }

  /** `GET /task-types`: what this server takes, each type with its input schema, limits and observed duration. */
  async taskTypes(): Promise<TaskType[]> {
    return this.#http.json<{ items: TaskType[] }>(await this.#http.send({ method: 'GET', path: '/task-types', retry: true }), PAGE).items;
  }

  /** Every operation matching the filter, following `next_cursor` page by page (from `cursor`'s page, when given). */
  listAll(options: ListOptions = {}): AsyncGenerator<Operation, void, undefined> {
    return everyItem((cursor) => this.list({ ...options, cursor }), options.cursor);
  }

  /** `GET /operations/{id}/history`: one page of what happened to the operation, oldest first. */
  async history(id: string, options: HistoryOptions = {}): Promise<Page<HistoryEvent>> {
    const query = { limit: options.limit, cursor: options.cursor };
    return this.#http.json<Page<HistoryEvent>>(await this.#http.send({ method: 'GET', path: `${operationPath(id)}/history`, query, retry: true }), PAGE);
  }

  /** Every event of the operation's history so far, oldest first, following `next_cursor` page by page. */
  historyAll(id: string, options: HistoryOptions = {}): AsyncGenerator<HistoryEvent, void, undefined> {
    return everyItem((cursor) => this.history(id, { ...options, cursor }), options.cursor);
  }

  /** `GET /webhook-deliveries`: one page of deliveries; `{ state: 'dead' }` is the dead-letter list. */
  async deliveries(options: DeliveryListOptions = {}): Promise<Page<Delivery>> {
    const query = { state: options.state, limit: options.limit, cursor: options.cursor };
    return this.#http.json<Page<Delivery>>(await this.#http.send({ method: 'GET', path: '/webhook-deliveries', query, retry: true }), PAGE);
  }

  /** `POST /webhook-deliveries/{id}/retry`: schedules a manual attempt of the delivery now. */
  async retryDelivery(id: string): Promise<Delivery> {
    const reply = await this.#http.send({ method: 'POST', path: `/webhook-deliveries/${idSegment(id)}/retry` });
    return this.#http.json<Delivery>(reply);
  }

  /** `GET /operations/{id}/deliveries`: every delivery of one operation with each of its HTTP attempts. */
  async operationDeliveries(id: string): Promise<{ items: DeliveryWithAttempts[] }> {
    const reply = await this.#http.send({ method: 'GET', path: `${operationPath(id)}/deliveries`, retry: true });
    return this.#http.json<{ items: DeliveryWithAttempts[] }>(reply, PAGE);
  }

  /**
   * `POST /schedules`: an operation of `type` with `input` at every tick of `cron` (five fields, or six with seconds
   * first), one per tick across all nodes.
   */
  async createSchedule(type: string, input: unknown, cron: string, options: CreateScheduleOptions = {}): Promise<Schedule> {
    const body = { type, input, cron, timezone: options.timezone, webhook_url: options.webhookUrl, priority: options.priority };
    const headers: Record<string, string> = options.idempotencyKey === undefined ? {} : { 'idempotency-key': options.idempotencyKey };
    const reply = await this.#http.send({ method: 'POST', path: '/schedules', body, headers, retry: options.idempotencyKey !== undefined });
    return this.#http.json<Schedule>(reply);
  }

  /** `GET /schedules`: one page, newest first (an admin key's: every tenant's, or `tenant`'s). */
  async listSchedules(options: ScheduleListOptions = {}): Promise<Page<Schedule>> {
    const query = { limit: options.limit, cursor: options.cursor, tenant: options.tenant };
    return this.#http.json<Page<Schedule>>(await this.#http.send({ method: 'GET', path: '/schedules', query, retry: true }), PAGE);
  }

  /** `GET /schedules/{id}`: the schedule, its next tick and the operations its recent ticks created. */
  async getSchedule(id: string): Promise<ScheduleDetail> {
    return this.#http.json<ScheduleDetail>(await this.#http.send({ method: 'GET', path: schedulePath(id), retry: true }));
  }

  /** `POST /schedules/{id}/pause`: no tick fires until it is resumed. */
  async pauseSchedule(id: string): Promise<Schedule> {
    return this.#http.json<Schedule>(await this.#http.send({ method: 'POST', path: `${schedulePath(id)}/pause`, retry: true }));
  }

  /** `POST /schedules/{id}/resume`: the next tick after now fires; ticks passed while paused are not caught up. */
  async resumeSchedule(id: string): Promise<Schedule> {
    return this.#http.json<Schedule>(await this.#http.send({ method: 'POST', path: `${schedulePath(id)}/resume`, retry: true }));
  }

  /** `DELETE /schedules/{id}`: the operations it created stay. */
  async deleteSchedule(id: string): Promise<void> {
    await this.#http.send({ method: 'DELETE', path: schedulePath(id) });
  }

  async #status(id: string, request: StatusRequest): Promise<StatusReply> {
    const headers: Record<string, string> = {};
    if (request.etag !== undefined) headers['if-none-match'] = request.etag;
    if (request.waitS !== undefined) headers.prefer = `wait=${request.waitS}`;
    const reply = await this.#http.send({
      method: 'GET',
      path: operationPath(id),
      headers,
      signal: request.signal,
      holdMs: (request.waitS ?? 0) * 1000,
      // A held request cut short is not sent again as it was: the wait asks for a shorter hold (wait.ts).
      retry: request.waitS === undefined,
      accept: [304],
    });
    return {
      operation: reply.status === 304 ? null : tagged(this.#http.json<Operation>(reply, operationNamed(id)), reply),
      etag: reply.headers.get('etag'),
      retryAfterS: retryAfterSeconds(reply.headers),
      waitApplied: /(^|[\s,;])wait=/i.test(reply.headers.get('preference-applied') ?? ''),
      sentAt: reply.sentAt,
    };
  }
}

/** The ETag each operation this client returned came with (get, submit, wait, cancel, retry): what `ifMatch` reads. */
const ETAGS = new WeakMap<Operation, string>();

function tagged(operation: Operation, reply: Reply): Operation {
  const etag = reply.headers.get('etag');
  if (etag !== null) ETAGS.set(operation, etag);
  return operation;
}

/** `If-Match` for an ETag, or for the one an operation this client returned came with. */
function ifMatchHeader(ifMatch: ConditionalOptions['ifMatch']): Record<string, string> {
  if (ifMatch === undefined) return {};
  if (typeof ifMatch === 'string') return { 'if-match': ifMatch };
  if (typeof ifMatch !== 'object' || ifMatch === null)
    throw new TypeError(`ifMatch: an ETag or an operation, not ${ifMatch === null ? 'null' : typeof ifMatch}`);
  const etag = ETAGS.get(ifMatch);
  // A list's items and an operation built by hand came with none: refusing beats a change made unconditionally.
  if (etag === undefined) throw new TypeError('ifMatch: this operation came with no ETag (a list item?): read it with get() first, or pass an ETag');
  return { 'if-match': etag };
}

function operationPath(id: string): string {
  return `/operations/${idSegment(id)}`;
}

function schedulePath(id: string): string {
  return `/schedules/${idSegment(id)}`;
}

/**
 * `id` as one segment of a request's path, or a TypeError for one no id is that would name another path: an empty one,
 * and `.` and `..`, which a URL resolves as a step up (written `%2E`, too).
 */
export function idSegment(id: string): string {
  if (id === '' || id === '.' || id === '..') throw new TypeError(`${JSON.stringify(id)} is not an id`);
  return encodeURIComponent(id);
}

/** Every item of a paginated list, following `next_cursor` page by page from the first (or from `from`'s page). */
async function* everyItem<T>(page: (cursor: string | undefined) => Promise<Page<T>>, from?: string): AsyncGenerator<T, void, undefined> {
  let cursor = from;
  do {
    const read = await page(cursor);
    yield* read.items;
    cursor = read.next_cursor ?? undefined;
  } while (cursor !== undefined);
}

/**
 * A time filter as the query takes it: RFC 3339 (a Date in UTC, a string as given); also a submit's run_at. An invalid
 * Date is the caller's mistake, named by its `option`, before anything is sent.
 */
function dateTime(value: Date | string | undefined, option: string): string | undefined {
  if (typeof value === 'string' || value === undefined) return value;
  // A Date from another realm (a page's iframe) is not `instanceof Date`; any Date's time is read the same way.
  const time = timeOfDate(value);
  // Not a Date at all (a number, from JavaScript): sent as its text, for the server to refuse by name.
  if (time === null) return String(value);
  if (Number.isNaN(time)) throw new TypeError(`${option}: an invalid Date`);
  return new Date(time).toISOString();
}
