// Owns: GET /docs/problems, the page every problem `type` leads to: one section per code (anchored by the code), with
// its status and title from the table in problem.ts and what it means here.
// Not here: the status and title of a code (problem.ts), the problems themselves.
// Invariant: every code a problem can carry has a section; a new ErrorCode without a description does not type-check.

import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ErrorCode } from '../domain/errors.ts';
import { INTERNAL_PROBLEM, PROBLEM_DOCS_PATH, PROBLEMS } from './problem.ts';

const MEANINGS: Readonly<Record<ErrorCode | typeof INTERNAL_PROBLEM.code, string>> = {
  validation_failed:
    'The body, query, a header or the task input does not match its schema, the task’s validate() refused the input, the body is not JSON (or not UTF-8, or holds a number too large to represent), a query parameter is given twice or holds a number not in decimal digits (`limit=0x10`), an id is longer than any is (over 200 characters), the path is not valid percent-encoded UTF-8, or the request is not valid HTTP (an HTTP/1.1 one without `Host`, or with two). `errors` lists each field: a JSON pointer (`/input/date_range`, `/query/status`, `/headers/idempotency-key`) and what is wrong with it.',
  unknown_task_type:
    'The `type` of the submitted operation, or of the operation a retry would run again, is not registered on this server (GET /task-types lists those that are).',
  not_found:
    'No such operation, webhook delivery, schedule or bulk action for this tenant (an id of another shape included), no route at this path, or a result asked for on another type’s collection route.',
  method_not_allowed: 'The path exists, but does not answer this method; the `Allow` header lists the methods it answers.',
  conflict:
    'The request conflicts with the current state: cancel of a terminal operation, delete of an unfinished one or of one whose webhook is still being delivered, replay of a delivery that is not dead or is of an end its operation was retried past (superseded), delete of a schedule a task declares (pause it instead), a schedule past the tenant’s `--max-schedules` (`limit` names it).',
  not_completed:
    'The result of an operation that has not completed; `operation_status` says where it is. Wait for it (poll, long-poll, event stream or webhook), then ask again.',
  not_redrivable:
    'A retry (POST /operations/{id}/retry) of an operation that is not `failed` or `cancelled`; `operation_status` says what it is. Only an ended, unsuccessful operation is run again.',
  precondition_failed:
    'A cancel, retry or delete sent with `If-Match` naming no current version of the operation (its ETag changed since it was read), or with `If-None-Match` naming the current one (or `*`): nothing was done. Read it again and decide anew.',
  result_gone: 'The result was removed by retention; the operation may still be readable.',
  idempotency_key_mismatch: 'The `Idempotency-Key` was used before with another body. Use a new key for a new request.',
  idempotency_key_in_use:
    'A retry arrived while the first request with this `Idempotency-Key` is still being handled (held by `Prefer: wait`, say). Retry after it has been answered.',
  webhook_url_refused:
    'The `webhook_url` is not an absolute http(s) URL, carries credentials, or points at a loopback, private, link-local or otherwise refused address (one too long, or empty, is a `validation_failed`).',
  payload_too_large: 'The request body is over the server’s body limit.',
  headers_too_large: 'The request line and headers together are over the server’s limit (Node’s, 16 KiB by default). The connection is closed.',
  expectation_failed:
    'The request carried an Expect header other than 100-continue, the one expectation the server meets. Send it without. The connection is closed.',
  request_timeout: 'The request did not arrive in full within the server’s time for it (--request-timeout, 1 minute by default). The connection is closed.',
  unsupported_media_type: 'The body is not `application/json` in UTF-8 (another content type or charset), or is compressed (a `Content-Encoding`).',
  unauthorized:
    'The server requires an API key and none was sent, or the one sent is not valid, or an event stream’s stream token is expired, altered or for another operation. `WWW-Authenticate` says which: `Bearer` alone, or with `error="invalid_token"`.',
  forbidden:
    'A tenant key asked to read another tenant (`?tenant=` names one that is not its own): only an admin key (`"admin": true` in the keys file) reads other tenants. Or a browser sent a `POST` or `DELETE` from another site whose origin `--cors-origin` does not allow (cross-site request forgery).',
  misdirected_request:
    'A server without API keys answers only to `localhost`, IP addresses and the names `--allowed-hosts` gives: the request named another host in `Host`, as a page on a name its attacker points at this machine (DNS rebinding) would. Use one of those, or give the server API keys.',
  rate_limited: 'Over the rate limit, or too many event streams open at once for this key (or address). `Retry-After` says when to come back.',
  store_unavailable:
    'The store does not answer, or cannot take the write now: no PostgreSQL connection within 5 s (all in use, or the database away), or a SQLite file locked by another process past the busy timeout, on a full disk, made read-only, failing with an I/O error, or damaged (which needs its backup restored). Try again later.',
  shutting_down:
    'The request reached a server that had begun to stop (on a connection kept open). Send it again: to another node, or to this one once it is back.',
  internal: 'The server failed to handle the request. It has been logged; the request may be retried.',
};

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** `code` spans in the meanings become <code>; everything else is escaped. */
const prose = (text: string) => escapeHtml(text).replace(/`([^`]+)`/g, '<code>$1</code>');

function renderPage(): string {
  const rows = [...Object.entries(PROBLEMS), [INTERNAL_PROBLEM.code, INTERNAL_PROBLEM] as const].map(([code, { status, title }]) => {
    const meaning = MEANINGS[code as keyof typeof MEANINGS];
    return `<section id="${escapeHtml(code)}">\n<h2><code>${escapeHtml(code)}</code> — ${status} ${escapeHtml(title)}</h2>\n<p>${prose(meaning)}</p>\n</section>`;
  });
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"><title>asyncops problem types</title>',
    '<style>body{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;line-height:1.5}h2{font-size:1.1rem;margin-top:2rem}</style></head><body>',
    '<h1>asyncops problem types</h1>',
    '<p>Every error is an RFC 9457 problem (<code>application/problem+json</code>) with <code>type</code>, <code>title</code>, <code>status</code>, <code>detail</code>, <code>instance</code> (the path asked for) and <code>code</code>. Its <code>type</code> is this page with the code as its fragment; match on <code>code</code>. The API itself is described at <a href="/docs">/docs</a>.</p>',
    ...rows,
    '</body></html>',
    '',
  ].join('\n');
}

export function registerProblemDocs(app: FastifyInstance): void {
  const page = renderPage();
  app.get(PROBLEM_DOCS_PATH, {
    schema: {
      tags: ['documentation'],
      operationId: 'getProblemTypes',
      summary: 'The problem types: what each error code means (every problem `type` leads here)',
      response: { 200: { description: 'An HTML page, one section per code, anchored by the code', content: { 'text/html': { schema: Type.String() } } } },
    },
    handler: async (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'public, max-age=3600')
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
        .send(page),
  });
}
