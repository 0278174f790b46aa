// Owns: what /openapi.json says besides each route's own schema: info, servers, tags, the bearer security scheme,
// the responses any route can give whatever it does (401, 429 and the RateLimit-* headers from the hooks, 503 while
// closing or without a store), the trace context headers every route takes, and the webhook a receiver gets. Not here: route schemas (*-routes.ts, schemas.ts);
// sending any of it (auth.ts, rate-limits.ts, closing.ts, webhooks/). Invariant: an operation needs no key
// (`security: []`, no 401 or 429) exactly when auth.ts's isOpenRoute says so, the rule the auth and rate-limit hooks follow.

import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import type { RegisteredTask } from '../runtime/registry.ts';
import { isOpenRoute } from './auth.ts';
import { pathWithin } from './base-path.ts';
import { DOCUMENTED_BODY, REQUIRED_HEADER } from './schemas.ts';
import { IDEMPOTENCY_KEY_MAX } from '../domain/operation.ts';

// biome-ignore lint/suspicious/noExplicitAny: the document is walked as untyped JSON; each read is checked where it is used.
type Json = Record<string, any>;

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
/** The methods that change state: refused from another origin (cross-origin.ts), and whose bodies are parsed. */
const BODY_METHODS = new Set(['put', 'post', 'delete', 'patch']);
/** Operations whose body may be left out (their route validates none as `{}`); a body schema is otherwise required. */
const OPTIONAL_BODIES = new Set(['retryOperation']);
const CROSS_ORIGIN_REFUSED =
  'a state-changing request a browser sent from another origin (`Sec-Fetch-Site`, or `Origin`) that `--cors-origin` does not allow (CSRF)';
const PROBLEM_CONTENT = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };
const ref = (kind: 'responses' | 'headers', name: string) => ({ $ref: `#/components/${kind}/${name}` });
/** On every reply of a rate-limited route: the limiter sets them before the route runs. */
const RATE_LIMIT_HEADERS = Object.fromEntries(['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'].map((h) => [h, ref('headers', h)]));

/** W3C Trace Context: taken on every request (a creating one's operation keeps it), sent with every webhook. */
const TRACE_HEADERS = {
  traceparent: {
    in: 'header',
    name: 'traceparent',
    required: false,
    description:
      "W3C Trace Context: the caller's span. A creating request's operation keeps it, so its `create` span, its first attempt and its webhook join that trace; a malformed value is ignored",
    schema: { type: 'string', example: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
  },
  tracestate: {
    in: 'header',
    name: 'tracestate',
    required: false,
    description: 'W3C Trace Context: vendor data that goes with `traceparent`',
    schema: { type: 'string' },
  },
};

const components = {
  securitySchemes: {
    apiKey: {
      type: 'http',
      scheme: 'bearer',
      description:
        'An API key, as `Authorization: Bearer KEY`, on a server started with API keys (`--api-keys`, `--api-keys-file`); its tenant scopes everything the request sees and creates. A server without keys needs none.',
    },
  },
  headers: {
    'RateLimit-Limit': {
      description: "Requests allowed per window for this key (or address) in this route's class, creating or reading; sent when the server limits rates",
      schema: { type: 'integer', minimum: 0 },
    },
    'RateLimit-Remaining': { description: 'Requests left in the current window', schema: { type: 'integer', minimum: 0 } },
    'RateLimit-Reset': { description: 'Seconds until the window starts over', schema: { type: 'integer', minimum: 0 } },
  },
  responses: {
    Unauthorized: {
      description: 'No valid API key (only on a server with API keys)',
      headers: {
        'WWW-Authenticate': {
          required: true,
          description: '`Bearer realm="asyncops"`, with `error="invalid_token"` when a key was sent but is not valid',
          schema: { type: 'string' },
        },
        ...RATE_LIMIT_HEADERS,
      },
      content: PROBLEM_CONTENT,
    },
    TooManyRequests: {
      description: 'Over the rate limit of this key (or address): honour Retry-After',
      headers: {
        'Retry-After': { required: true, description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 1 } },
        ...RATE_LIMIT_HEADERS,
      },
      content: PROBLEM_CONTENT,
    },
    MisdirectedRequest: {
      description:
        'Only on a server without API keys: `Host` names neither localhost, an IP address nor one of `--allowed-hosts` (`misdirected_request`, against DNS rebinding)',
      content: PROBLEM_CONTENT,
    },
    CrossOriginRefused: {
      description: `Forbidden: ${CROSS_ORIGIN_REFUSED}`,
      content: PROBLEM_CONTENT,
    },
    BodyTooLarge: {
      description: 'The request body is over the limit (`--body-limit`)',
      headers: RATE_LIMIT_HEADERS,
      content: PROBLEM_CONTENT,
    },
    UnsupportedBody: {
      description: 'A body that is not `application/json` in UTF-8',
      headers: RATE_LIMIT_HEADERS,
      content: PROBLEM_CONTENT,
    },
    ServiceUnavailable: {
      description:
        'The server is shutting down (`shutting_down`), or its store does not answer (`store_unavailable`): send the request again, to another node or later',
      headers: {
        'Retry-After': {
          required: true,
          description: 'Seconds to wait before sending it again (to this node; another node may be asked at once)',
          schema: { type: 'integer', minimum: 1 },
        },
        // A rate-limited route's limiter has set them before the route met the store.
        ...RATE_LIMIT_HEADERS,
      },
      content: PROBLEM_CONTENT,
    },
  },
};

const WEBHOOK_DESCRIPTION = [
  'POSTed to the `webhook_url` of an operation when it ends. Signed as [Standard Webhooks](https://www.standardwebhooks.com/) say;',
  'the body is fixed when the operation ends, so every attempt and replay sends the same bytes. A 2xx answer delivers it;',
  'anything else, or no answer within `--webhook-timeout`, is tried again on `--webhook-schedule`, and redirects are not followed.',
].join(' ');

const webhooks = {
  operationFinished: {
    post: {
      operationId: 'operationFinished',
      tags: ['webhooks'],
      summary: 'An operation ended: completed, failed or cancelled',
      description: WEBHOOK_DESCRIPTION,
      security: [],
      parameters: [
        {
          in: 'header',
          name: 'webhook-id',
          required: true,
          description: 'The message id, the same on every attempt and replay: deduplicate on it',
          schema: { type: 'string' },
        },
        { in: 'header', name: 'webhook-timestamp', required: true, description: "This attempt's time, unix seconds", schema: { type: 'integer' } },
        {
          in: 'header',
          name: 'webhook-signature',
          required: true,
          description:
            '`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the base64 after `whsec_` in a secret; one per configured secret, separated by spaces',
          schema: { type: 'string', pattern: '^v1,[A-Za-z0-9+/]+={0,2}( v1,[A-Za-z0-9+/]+={0,2})*$' },
        },
        {
          ...TRACE_HEADERS.traceparent,
          description: "W3C Trace Context: this attempt's span, in the trace of the attempt that ended the operation (or of its creation)",
        },
        { ...TRACE_HEADERS.tracestate, description: 'W3C Trace Context: vendor data of that trace, when it has any' },
      ],
      requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/WebhookEvent' } } } },
      responses: {
        '2XX': { description: 'Delivered: no more attempts' },
        '410': { description: 'Gone: the delivery ends dead at once, with no more attempts' },
        '429': {
          description: 'Tried again no sooner than Retry-After says, within the schedule',
          headers: { 'Retry-After': { description: 'Seconds, or an HTTP date', schema: { type: 'string' } } },
        },
        '503': { description: 'As 429', headers: { 'Retry-After': { description: 'Seconds, or an HTTP date', schema: { type: 'string' } } } },
        default: { description: 'Any other answer: tried again on the schedule, then dead' },
      },
    },
  },
};

function tags(tasks: readonly RegisteredTask[]) {
  const fixed = [
    { name: 'operations', description: 'Submit work, follow it (poll, long-poll, stream), fetch its result, cancel or delete it' },
    { name: 'task types', description: "What can be submitted: each type's input schema, limits and observed duration" },
  ];
  const rest = [
    { name: 'webhook deliveries', description: 'The webhooks sent when operations end, every attempt, and the dead-letter list' },
    { name: 'bulk actions', description: 'Retry, cancel or delete every operation a filter selects, or replay dead deliveries, in the background' },
    { name: 'health', description: 'Liveness, readiness and metrics, for orchestrators and scrapers' },
    { name: 'documentation', description: 'This description of the API' },
    { name: 'webhooks', description: 'What asyncops POSTs to a webhook_url' },
  ];
  const taken = new Set([...fixed, ...rest].map((t) => t.name));
  const perTask = tasks
    .filter((task) => task.route !== null && !taken.has(task.type))
    .map((task) => ({
      name: task.type,
      description: task.definition.description ?? `The ${task.type} task type's routes: ${task.route} takes its input as the body`,
    }));
  return [...fixed, ...perTask, ...rest];
}

/**
 * The Idempotency-Key header's rule, as submit.ts's idempotencyKeyOf checks it (with a message of its own, which a
 * schema keyword in the route would replace with ajv's): 1..IDEMPOTENCY_KEY_MAX visible ASCII characters, bare or as
 * the quoted sf-string the draft makes it: any such text up to IDEMPOTENCY_KEY_MAX but `""` (quotes around nothing), and
 * quoted ones 2 longer. No lookahead: client generators built on RE2 (Go's) do not take one.
 */
const IDEMPOTENCY_KEY_SCHEMA = {
  type: 'string',
  minLength: 1,
  maxLength: IDEMPOTENCY_KEY_MAX + 2,
  pattern: `^(?:[!-~]|[!#-~][!-~]|[!-~][!#-~]|[!-~]{3,${IDEMPOTENCY_KEY_MAX}}|"[!-~]{${IDEMPOTENCY_KEY_MAX - 1},${IDEMPOTENCY_KEY_MAX}}")$`,
};

/** Response headers come from route schemas as bare schemas; a REQUIRED_HEADER mark becomes the header's `required`. */
function liftRequiredHeaders(response: Json): void {
  for (const header of Object.values<Json>(response.headers ?? {})) {
    if (header.schema?.[REQUIRED_HEADER] !== true) continue;
    delete header.schema[REQUIRED_HEADER];
    header.required = true;
  }
}

/**
 * Adds to each operation what the hooks in front of every route can answer, and orders its responses by status.
 * `hostChecked`: the server answers only some host names (host-check.ts), open routes included.
 */
function completeOperations(document: Json, hostChecked: boolean): Json {
  for (const [path, item] of Object.entries<Json>(document.paths ?? {})) {
    const open = isOpenRoute(path);
    for (const [method, operation] of Object.entries<Json>(item)) {
      if (!METHODS.has(method)) continue;
      // Written out in each operation, not as references: a reader (or a client generator) sees them where the route is.
      operation.parameters = [...(operation.parameters ?? []), { ...TRACE_HEADERS.traceparent }, { ...TRACE_HEADERS.tracestate }];
      for (const parameter of operation.parameters)
        if (parameter.in === 'header' && parameter.name === 'idempotency-key') parameter.schema = { ...parameter.schema, ...IDEMPOTENCY_KEY_SCHEMA };
      const responses: Json = operation.responses;
      for (const response of Object.values<Json>(responses)) liftRequiredHeaders(response);
      if (open) {
        operation.security = [];
      } else {
        responses['401'] ??= ref('responses', 'Unauthorized');
        responses['429'] ??= ref('responses', 'TooManyRequests');
        for (const response of Object.values<Json>(responses))
          if (response.$ref === undefined) response.headers = { ...response.headers, ...RATE_LIMIT_HEADERS };
      }
      if (OPTIONAL_BODIES.has(operation.operationId) && operation.requestBody !== undefined) operation.requestBody.required = false;
      if (BODY_METHODS.has(method)) {
        // The CSRF check (cross-origin.ts) and the body parser (json-body.ts) stand in front of every such route.
        const forbidden = responses['403'];
        if (forbidden === undefined) responses['403'] = ref('responses', 'CrossOriginRefused');
        else if (!String(forbidden.description).includes(CROSS_ORIGIN_REFUSED)) forbidden.description = `${forbidden.description}; or ${CROSS_ORIGIN_REFUSED}`;
        responses['413'] ??= ref('responses', 'BodyTooLarge');
        responses['415'] ??= ref('responses', 'UnsupportedBody');
      }
      if (hostChecked) responses['421'] ??= ref('responses', 'MisdirectedRequest');
      responses['503'] ??= ref('responses', 'ServiceUnavailable');
      operation.responses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
    }
  }
  return document;
}

/** A route schema with the body the document gives (DOCUMENTED_BODY) in place of the one the route validates. */
function documentedBody(schema: Json): Json {
  if (schema?.[DOCUMENTED_BODY] === undefined) return schema;
  const { [DOCUMENTED_BODY]: body, ...rest } = schema;
  return { ...rest, body };
}

/** `basePath`: where the API is mounted; its paths are written relative to it, and it is the document's server. */
export function openApiOptions(options: {
  readonly version: string;
  readonly tasks: readonly RegisteredTask[];
  readonly basePath?: string;
  /** Whether a request for another host name is refused with 421 (host-check.ts). */
  readonly hostChecked?: boolean;
}): FastifyDynamicSwaggerOptions {
  const basePath = options.basePath ?? '';
  return {
    // Written as plain JSON: the OpenAPI types want literal types ('http', 'header') these objects are not inferred as.
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'asyncops',
        version: options.version,
        description:
          'Async operations: POST work, get 202 Accepted with a Location, then poll, long-poll, stream or receive a signed webhook. Every error is an RFC 9457 problem (`application/problem+json`).',
        license: { name: 'MIT', identifier: 'MIT' },
      },
      servers: [{ url: basePath === '' ? '/' : basePath, description: 'The server that serves this document' }],
      tags: tags(options.tasks),
      security: [{ apiKey: [] }],
      components,
      webhooks,
    } as FastifyDynamicSwaggerOptions['openapi'],
    transform: ({ schema, url }) => ({ schema: documentedBody(schema as Json), url: pathWithin(basePath, url) }),
    transformObject: (document) => completeOperations('openapiObject' in document ? document.openapiObject : {}, options.hostChecked === true),
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  };
}
