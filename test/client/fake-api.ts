// Owns: a small fake of the asyncops HTTP API (DESIGN §1) on a real node:http server, for SDK and CLI unit tests.
// Not here: the real server's behaviour — end-to-end tests run the CLI against it. Operations follow a scripted
// timeline of stages in real time. Invariant: every request is recorded with its arrival time; close() ends all sockets.

import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import type { BulkAction, Delivery, DeliveryWithAttempts, Operation, OperationStatus } from '../../src/client/index.ts';

export interface FakeStage {
  /** When the stage begins, in ms after the operation was created. */
  atMs: number;
  status: OperationStatus;
  progress?: number | null;
  message?: string | null;
  etaS?: number | null;
  error?: { code: string; message: string } | null;
}

export interface FakeApiOptions {
  /** Honour `Prefer: wait=N` with If-None-Match (default true). */
  longPoll?: boolean;
  /** Retry-After on non-terminal status replies, in seconds (default 1). */
  retryAfterS?: number;
  /** Require `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** The timeline of operations submitted through the API. */
  stages?: FakeStage[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** The query string, `?` included ('' for none). */
  search: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** performance.now() when the request arrived. */
  at: number;
  /** Filled when the reply is sent. */
  status?: number;
  changed?: boolean;
}

/** How many operations every bulk action matches. */
const BULK_MATCHES = 3;

export const DEFAULT_STAGES: FakeStage[] = [
  { atMs: 0, status: 'pending', etaS: 3 },
  { atMs: 300, status: 'processing', progress: 0, message: 'starting', etaS: 2.5 },
  { atMs: 1300, status: 'processing', progress: 0.5, message: 'halfway', etaS: 1.2 },
  { atMs: 2300, status: 'completed', progress: 1, message: 'done' },
];

interface FakeOperation {
  id: string;
  type: string;
  input: unknown;
  createdAt: number;
  stages: FakeStage[];
  cancelledAt: number | null;
  result: { contentType: string; body: string | Uint8Array } | null;
  expired: boolean;
}

/** A status to answer with, a connection reset, or no answer at all (until the client gives up or the fake closes). */
type Failure = number | 'reset' | 'hang';

export class FakeApi {
  readonly requests: RecordedRequest[] = [];
  readonly operations = new Map<string, FakeOperation>();
  readonly deliveries: DeliveryWithAttempts[] = [];
  url = '';
  #server: Server;
  #options: Required<Omit<FakeApiOptions, 'apiKey'>> & { apiKey?: string };
  #failures: Array<{ how: Failure; path: string | undefined }> = [];
  /** Bulk actions by id: each runs `runsMs` from its creation, then completes. */
  readonly #bulkActions = new Map<string, { action: string; filter: Record<string, unknown>; createdAt: number; runsMs: number }>();
  /** How long a bulk action created through the API runs before it completes. */
  bulkRunsMs = 1_000;
  #closed = false;
  /** Held long-polls, woken to look again by a cancel or close(). */
  readonly #held = new Set<() => void>();
  #nextId = 1;

  constructor(options: FakeApiOptions = {}) {
    this.#options = { longPoll: true, retryAfterS: 1, stages: DEFAULT_STAGES, ...options };
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) this.#problem(res, 500, 'Internal error', String(error));
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const wake of [...this.#held]) wake();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /**
   * The next `count` requests (to `path` and below, when given) fail: with that status (a problem body), or by
   * resetting the connection.
   */
  failNext(count: number, how: Failure, path?: string): void {
    for (let i = 0; i < count; i++) this.#failures.push({ how, path });
  }

  addOperation(type: string, input: unknown, stages = this.#options.stages): Operation {
    const op: FakeOperation = {
      id: `op_${String(this.#nextId++).padStart(4, '0')}`,
      type,
      input,
      createdAt: Date.now(),
      stages,
      cancelledAt: null,
      result: { contentType: 'application/json', body: JSON.stringify({ total: 42 }) },
      expired: false,
    };
    this.operations.set(op.id, op);
    return this.render(op);
  }

  /** Requests for one operation's status (GET /operations/{id}). */
  statusRequests(id: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === 'GET' && r.path === `/operations/${id}`);
  }

  render(op: FakeOperation): Operation {
    const { stage, version } = this.#stageOf(op);
    const terminal = ['completed', 'failed', 'cancelled'].includes(stage.status);
    const iso = (ms: number) => new Date(ms).toISOString();
    const eta = terminal ? null : (stage.etaS ?? null);
    const result = stage.status === 'completed' ? `/operations/${op.id}/result` : null;
    return {
      id: op.id,
      operation_id: op.id,
      tenant: 'default',
      type: op.type,
      status: stage.status,
      progress: stage.progress ?? null,
      progress_message: stage.message ?? null,
      attempt: 1,
      max_attempts: 3,
      priority: 0,
      concurrency_key: null,
      schedule_id: null,
      created_at: iso(op.createdAt),
      started_at: stage.status === 'pending' ? null : iso(op.createdAt),
      finished_at: terminal ? iso(op.createdAt + stage.atMs) : null,
      updated_at: iso(op.createdAt + stage.atMs + version),
      run_at: iso(op.createdAt),
      timeout_s: 300,
      queue_position: stage.status === 'pending' ? 1 : null,
      estimated_completion_at: eta === null ? null : iso(Date.now() + eta * 1000),
      estimated_completion_range: null,
      estimated_seconds_remaining: eta,
      result_url: result,
      error: terminal ? (stage.error ?? null) : null,
      last_attempt_error: terminal ? null : (stage.error ?? null),
      webhook: null,
      links: { self: `/operations/${op.id}`, cancel: terminal ? null : `/operations/${op.id}/cancel`, result, events: `/operations/${op.id}/events` },
    };
  }

  #stageOf(op: FakeOperation): { stage: FakeStage; version: number } {
    const elapsed = Date.now() - op.createdAt;
    let version = 0;
    for (let i = 0; i < op.stages.length; i++) if (op.stages[i]!.atMs <= elapsed) version = i;
    const stage = op.stages[version]!;
    const cancellable = !['completed', 'failed', 'cancelled'].includes(stage.status);
    if (op.cancelledAt !== null && cancellable)
      return {
        stage: { atMs: op.cancelledAt - op.createdAt, status: 'cancelled', error: { code: 'cancelled', message: 'cancelled by request' } },
        version: op.stages.length,
      };
    return { stage, version };
  }

  /** When the operation's timeline moves to its next stage (epoch ms); Infinity after the last. */
  #nextStageAt(op: FakeOperation): number {
    const elapsed = Date.now() - op.createdAt;
    const next = op.stages.find((stage) => stage.atMs > elapsed);
    return next === undefined ? Infinity : op.createdAt + next.atMs;
  }

  /** Resolves at `at` (epoch ms), or sooner on a cancel or close(). */
  #holdUntil(at: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#held.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, at - Date.now()));
      this.#held.add(wake);
    });
  }

  #etag(op: FakeOperation): string {
    return `"${op.id}-v${this.#stageOf(op).version}"`;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const record: RecordedRequest = {
      method: req.method ?? '',
      path: url.pathname,
      search: url.search,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      at: performance.now(),
    };
    this.requests.push(record);
    res.on('finish', () => (record.status = res.statusCode));

    const failing = this.#failures.findIndex((f) => f.path === undefined || url.pathname.startsWith(f.path));
    const failure = failing === -1 ? undefined : this.#failures.splice(failing, 1)[0]!.how;
    if (failure === 'reset') return void req.socket.destroy();
    if (failure === 'hang') return;
    if (failure !== undefined) return this.#problem(res, failure, 'Service unavailable', 'scripted failure');
    if (this.#options.apiKey !== undefined && req.headers.authorization !== `Bearer ${this.#options.apiKey}`) {
      return this.#problem(res, 401, 'Unauthorized', 'a valid API key is required', { code: 'unauthorized' });
    }

    const limit = url.searchParams.get('limit');
    if (limit !== null && !(/^\d+$/.test(limit) && Number(limit) >= 1 && Number(limit) <= 200)) {
      return this.#problem(res, 400, 'Bad request', 'limit must be a whole number from 1 to 200', { code: 'validation_failed' });
    }

    const parts = url.pathname.split('/').filter(Boolean);
    const op = parts[0] === 'operations' && parts[1] ? this.operations.get(parts[1]) : undefined;
    if (parts[0] === 'operations' && parts[1] && !op) return this.#problem(res, 404, 'Not found', `no operation ${parts[1]}`, { code: 'not_found' });

    if (req.method === 'POST' && url.pathname === '/operations') return this.#submit(req, res, record.body);
    if (req.method === 'GET' && url.pathname === '/operations') return this.#list(res, url);
    if (req.method === 'GET' && op && parts.length === 2) return this.#status(req, res, op, record);
    if (req.method === 'GET' && op && parts[2] === 'result') return this.#result(res, op);
    if (req.method === 'POST' && op && parts[2] === 'cancel') {
      if (this.render(op).links.cancel === null)
        return this.#problem(res, 409, 'Conflict', `operation ${op.id} is already ${this.render(op).status}`, { code: 'conflict' });
      op.cancelledAt = Date.now();
      for (const wake of [...this.#held]) wake();
      return this.#json(res, 202, this.render(op));
    }
    if (req.method === 'DELETE' && op) {
      this.operations.delete(op.id);
      return void res.writeHead(204).end();
    }
    if (req.method === 'GET' && op && parts[2] === 'deliveries')
      return this.#json(res, 200, { items: this.deliveries.filter((d) => d.operation_id === op.id) });
    if (req.method === 'POST' && url.pathname === '/bulk-actions') return this.#createBulkAction(res, record.body);
    if (req.method === 'GET' && parts[0] === 'bulk-actions' && parts[1] !== undefined && parts.length === 2) {
      const bulk = this.#bulkActions.get(parts[1]);
      if (!bulk) return this.#problem(res, 404, 'Not found', `no bulk action ${parts[1]}`, { code: 'not_found' });
      return this.#json(res, 200, this.#renderBulkAction(parts[1], bulk));
    }
    if (req.method === 'GET' && url.pathname === '/webhook-deliveries') {
      const state = url.searchParams.get('state');
      const items = this.deliveries.filter((d) => state === null || d.state === state).map(({ attempts: _attempts, ...d }) => d);
      return this.#json(res, 200, { items, next_cursor: null });
    }
    if (req.method === 'POST' && parts[0] === 'webhook-deliveries' && parts[2] === 'retry') {
      const delivery = this.deliveries.find((d) => d.id === parts[1]);
      if (!delivery) return this.#problem(res, 404, 'Not found', `no delivery ${parts[1]}`, { code: 'not_found' });
      delivery.state = 'pending';
      const { attempts: _attempts, ...plain } = delivery;
      return this.#json(res, 202, plain satisfies Delivery);
    }
    return this.#problem(res, 404, 'Not found', `no route ${req.method} ${url.pathname}`, { code: 'not_found' });
  }

  #submit(req: IncomingMessage, res: ServerResponse, body: string): void {
    let parsed: { type?: unknown; input?: unknown };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      this.#problem(res, 400, 'Bad request', 'body is not JSON', { code: 'validation_failed' });
      return;
    }
    if (parsed.type === 'nope') {
      this.#problem(res, 422, 'Unknown task type', 'no task type "nope"', {
        code: 'unknown_task_type',
        errors: [{ path: '/type', message: 'is not registered' }],
      });
      return;
    }
    const key = req.headers['idempotency-key'];
    const existing = typeof key === 'string' ? [...this.operations.values()].find((o) => (o as FakeOperation & { key?: string }).key === key) : undefined;
    const created = existing ? this.render(existing) : this.addOperation(String(parsed.type), parsed.input);
    if (typeof key === 'string') Object.assign(this.operations.get(created.id)!, { key });
    res.setHeader('location', `/operations/${created.id}`);
    res.setHeader('retry-after', String(this.#options.retryAfterS));
    this.#json(res, 202, created);
  }

  #createBulkAction(res: ServerResponse, body: string): void {
    const parsed = JSON.parse(body) as { action: string; filter: Record<string, unknown>; dry_run?: boolean };
    if (parsed.dry_run) {
      this.#json(res, 200, { action: parsed.action, filter: parsed.filter, count: BULK_MATCHES });
      return;
    }
    const id = `bulk_${String(this.#nextId++).padStart(4, '0')}`;
    const bulk = { action: parsed.action, filter: parsed.filter, createdAt: Date.now(), runsMs: this.bulkRunsMs };
    this.#bulkActions.set(id, bulk);
    res.setHeader('location', `/bulk-actions/${id}`);
    this.#json(res, 202, this.#renderBulkAction(id, bulk));
  }

  #renderBulkAction(id: string, bulk: { action: string; filter: Record<string, unknown>; createdAt: number; runsMs: number }) {
    const done = Date.now() >= bulk.createdAt + bulk.runsMs;
    const iso = (ms: number) => new Date(ms).toISOString();
    return {
      id,
      action: bulk.action as BulkAction['action'],
      filter: bulk.filter,
      priority: null,
      status: done ? 'completed' : 'processing',
      total: BULK_MATCHES,
      processed: done ? BULK_MATCHES : 0,
      succeeded: done ? BULK_MATCHES : 0,
      skipped: 0,
      created_by: 'key:1',
      tenant: null,
      created_at: iso(bulk.createdAt),
      started_at: iso(bulk.createdAt),
      finished_at: done ? iso(bulk.createdAt + bulk.runsMs) : null,
      error: null,
      links: { self: `/bulk-actions/${id}` },
    } satisfies BulkAction;
  }

  async #status(req: IncomingMessage, res: ServerResponse, op: FakeOperation, record: RecordedRequest): Promise<void> {
    const ifNoneMatch = req.headers['if-none-match'];
    const waitS = Number(/wait=(\d+)/.exec(String(req.headers.prefer ?? ''))?.[1] ?? NaN);
    const terminal = () => this.render(op).links.cancel === null;
    if (this.#options.longPoll && Number.isFinite(waitS) && ifNoneMatch === this.#etag(op) && !terminal()) {
      res.setHeader('preference-applied', `wait=${waitS}`);
      const until = Date.now() + Math.min(30, waitS) * 1000;
      while (!this.#closed && Date.now() < until && ifNoneMatch === this.#etag(op)) await this.#holdUntil(Math.min(until, this.#nextStageAt(op)));
      if (ifNoneMatch === this.#etag(op)) {
        res.setHeader('etag', this.#etag(op));
        return void res.writeHead(304).end();
      }
    }
    record.changed = ifNoneMatch !== undefined && ifNoneMatch !== this.#etag(op);
    res.setHeader('etag', this.#etag(op));
    if (!terminal()) res.setHeader('retry-after', String(this.#options.retryAfterS));
    this.#json(res, 200, this.render(op));
  }

  #result(res: ServerResponse, op: FakeOperation): void {
    const current = this.render(op);
    if (op.expired) {
      this.#problem(res, 410, 'Gone', 'the result has been removed', { code: 'result_gone' });
      return;
    }
    if (current.status !== 'completed' || op.result === null) {
      this.#problem(res, 409, 'Not completed', `operation is ${current.status}`, { code: 'not_completed', status_of_operation: current.status });
      return;
    }
    res.writeHead(200, { 'content-type': op.result.contentType }).end(op.result.body);
  }

  #list(res: ServerResponse, url: URL): void {
    const status = url.searchParams.get('status');
    const all = [...this.operations.values()]
      .reverse()
      .map((o) => this.render(o))
      .filter((o) => status === null || o.status === status);
    const limit = Number(url.searchParams.get('limit') ?? 50);
    const start = Number(url.searchParams.get('cursor') ?? 0);
    const items = all.slice(start, start + limit);
    this.#json(res, 200, { items, next_cursor: start + limit < all.length ? String(start + limit) : null });
  }

  #json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  #problem(res: ServerResponse, status: number, title: string, detail: string, extra: Record<string, unknown> = {}): void {
    const body = { type: 'about:blank', title, status, detail, ...extra };
    res.writeHead(status, { 'content-type': 'application/problem+json' }).end(JSON.stringify(body));
  }
}

export function sampleDelivery(operationId: string, id: string, state: Delivery['state']): DeliveryWithAttempts {
  const at = '2026-01-01T00:00:00.000Z';
  return {
    id,
    operation_id: operationId,
    tenant: 'default',
    webhook_id: `msg_${id}`,
    url: 'http://127.0.0.1:9/hook',
    event_type: 'operation.completed',
    state,
    attempt_count: 2,
    next_attempt_at: null,
    created_at: at,
    updated_at: at,
    last_status_code: 500,
    last_error: null,
    superseded: false,
    attempts: [
      { attempt: 1, trigger: 'scheduled', started_at: at, duration_ms: 12, status_code: 500, error: null, response_snippet: 'oops' },
      { attempt: 2, trigger: 'scheduled', started_at: at, duration_ms: 3001, status_code: null, error: 'ECONNREFUSED', response_snippet: null },
    ],
  };
}

/** A port nothing listens on (just released by the OS), for "server unreachable" cases. */
export async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface HtmlServer {
  url: string;
  close(): Promise<void>;
}

/**
 * A real node:http server that answers every request with an HTML page: what a wrong --url or baseUrl reaches (a
 * web server's default page with 200, a static file server's "not found" page with 404).
 */
export async function startHtmlServer(status = 200): Promise<HtmlServer> {
  const heading = status === 200 ? 'It works!' : `${status} ${STATUS_CODES[status] ?? ''}`;
  return startFixedServer(status, 'text/html; charset=utf-8', `<!doctype html><html><body><h1>${heading}</h1></body></html>`);
}

/** A server answering every request with `status`, `contentType` and `body`: some other server's JSON, say. */
export async function startFixedServer(status: number, contentType: string, body: string): Promise<HtmlServer> {
  const server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': contentType }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
