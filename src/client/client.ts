// Owns: AsyncOpsClient, one typed method per route of the asyncops HTTP contract (DESIGN §1, §6).
// Not here: the HTTP exchange and retries (transport.ts), wait pacing (wait.ts), webhook signatures (signing/webhook-signature.ts).
// Invariant: only requests that are safe to repeat are retried — reads, and a submit that carries an Idempotency-Key.

import { retryAfterSeconds, textOf, Transport, type TransportOptions } from './transport.ts';
import type {
  CreateScheduleOptions,
  Delivery,
  DeliveryListOptions,
  DeliveryWithAttempts,
  ListOptions,
  Operation,
  OperationResult,
  Page,
  Schedule,
  ScheduleDetail,
  ScheduleListOptions,
  SubmitOptions,
  WaitOptions,
} from './types.ts';
import { waitForTerminal, type StatusReply, type StatusRequest } from './wait.ts';

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
    const headers: Record<string, string> = {};
    if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
    if (options.waitS !== undefined) headers.prefer = `wait=${options.waitS}`;
    const runAt = options.runAt instanceof Date ? options.runAt.toISOString() : options.runAt;
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
    const reply = await this.#http.send({
      method: 'POST',
      path: '/operations',
      body,
      headers,
      signal: options.signal,
      holdMs: (options.waitS ?? 0) * 1000,
      retry: options.idempotencyKey !== undefined,
    });
    return this.#http.json<Operation>(reply);
  }

  /** `GET /operations/{id}`. */
  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<Operation> {
    const reply = await this.#http.send({ method: 'GET', path: operationPath(id), signal: options.signal, retry: true });
    return this.#http.json<Operation>(reply);
  }

  /**
   * Resolves with the operation once it is terminal (completed, failed or cancelled — check `status`).
   * Long-polls when the server honours `Prefer: wait`, else polls as `Retry-After` says; never two status
   * requests within 1 s, except right after a long-poll that returned early because the operation changed.
   */
  wait(id: string, options: WaitOptions = {}): Promise<Operation> {
    return waitForTerminal(id, (request) => this.#status(id, request), options);
  }

  /** `GET /operations/{id}/result`: the result bytes with their content type. 409 while not completed, 410 once expired. */
  async result(id: string, options: { signal?: AbortSignal } = {}): Promise<OperationResult> {
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
      text: () => textOf(body),
      json: <T>() => JSON.parse(textOf(body)) as T,
    };
  }

  /** `POST /operations/{id}/cancel`: the operation, cancelled or cancelling. 409 if already terminal. */
  async cancel(id: string): Promise<Operation> {
    return this.#http.json<Operation>(await this.#http.send({ method: 'POST', path: `${operationPath(id)}/cancel` }));
  }

  /** `DELETE /operations/{id}`: removes a terminal operation and its result. */
  async delete(id: string): Promise<void> {
    await this.#http.send({ method: 'DELETE', path: operationPath(id) });
  }

  /** `GET /operations`: one page, newest first. */
  async list(options: ListOptions = {}): Promise<Page<Operation>> {
    const query = { status: options.status, type: options.type, limit: options.limit, cursor: options.cursor };
    return this.#http.json<Page<Operation>>(await this.#http.send({ method: 'GET', path: '/operations', query, retry: true }));
  }

  /** Every operation matching the filter, following `next_cursor` page by page. */
  async *listAll(options: Omit<ListOptions, 'cursor'> = {}): AsyncGenerator<Operation, void, undefined> {
    let cursor: string | undefined;
    do {
      const page = await this.list({ ...options, cursor });
      yield* page.items;
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** `GET /webhook-deliveries`: one page of deliveries; `{ state: 'dead' }` is the dead-letter list. */
  async deliveries(options: DeliveryListOptions = {}): Promise<Page<Delivery>> {
    const query = { state: options.state, limit: options.limit, cursor: options.cursor };
    return this.#http.json<Page<Delivery>>(await this.#http.send({ method: 'GET', path: '/webhook-deliveries', query, retry: true }));
  }

  /** `POST /webhook-deliveries/{id}/retry`: schedules a manual attempt of the delivery now. */
  async retryDelivery(id: string): Promise<Delivery> {
    const reply = await this.#http.send({ method: 'POST', path: `/webhook-deliveries/${encodeURIComponent(id)}/retry` });
    return this.#http.json<Delivery>(reply);
  }

  /** `GET /operations/{id}/deliveries`: every delivery of one operation with each of its HTTP attempts. */
  async operationDeliveries(id: string): Promise<{ items: DeliveryWithAttempts[] }> {
    const reply = await this.#http.send({ method: 'GET', path: `${operationPath(id)}/deliveries`, retry: true });
    return this.#http.json<{ items: DeliveryWithAttempts[] }>(reply);
  }

  /**
   * `POST /schedules`: an operation of `type` with `input` at every tick of `cron` (five fields, or six with seconds
   * first), one per tick across all nodes.
   */
  async createSchedule(type: string, input: unknown, cron: string, options: CreateScheduleOptions = {}): Promise<Schedule> {
    const body = { type, input, cron, timezone: options.timezone, webhook_url: options.webhookUrl };
    return this.#http.json<Schedule>(await this.#http.send({ method: 'POST', path: '/schedules', body }));
  }

  /** `GET /schedules`: one page, newest first. */
  async listSchedules(options: ScheduleListOptions = {}): Promise<Page<Schedule>> {
    const query = { limit: options.limit, cursor: options.cursor };
    return this.#http.json<Page<Schedule>>(await this.#http.send({ method: 'GET', path: '/schedules', query, retry: true }));
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
      retry: true,
      accept: [304],
    });
    return {
      operation: reply.status === 304 ? null : this.#http.json<Operation>(reply),
      etag: reply.headers.get('etag'),
      retryAfterS: retryAfterSeconds(reply.headers),
      waitApplied: /(^|[\s,;])wait=/i.test(reply.headers.get('preference-applied') ?? ''),
    };
  }
}

function operationPath(id: string): string {
  return `/operations/${encodeURIComponent(id)}`;
}

function schedulePath(id: string): string {
  return `/schedules/${encodeURIComponent(id)}`;
}
