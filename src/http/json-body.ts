// Owns: reading a JSON request body: the charset its content type declares, a leading byte-order mark, the parse.
// Not here: its size (Fastify's bodyLimit), nesting depth (input-limits.ts) or fields (route schemas, runtime/).
// Invariant: every route reads a JSON body by this one rule: UTF-8 (a BOM is dropped), any other charset a 415.

import type { FastifyInstance } from 'fastify';
import { AsyncOpsError } from '../domain/errors.ts';

/** Charset names (lower-cased) that mean UTF-8; RFC 8259 makes UTF-8 the only encoding of JSON between systems. */
const UTF8_NAMES: ReadonlySet<string> = new Set(['utf-8', 'utf8']);

/** The `charset` parameter of a content type, lower-cased and unquoted; null when it has none. */
export function charsetOf(contentType: string | undefined): string | null {
  for (const parameter of (contentType ?? '').split(';').slice(1)) {
    const equals = parameter.indexOf('=');
    if (equals < 0 || parameter.slice(0, equals).trim().toLowerCase() !== 'charset') continue;
    return parameter
      .slice(equals + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
  }
  return null;
}

export function installJsonBodyParser(app: FastifyInstance): void {
  // Fastify's own parser, with its refusal of __proto__ and constructor.prototype keys.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const charset = charsetOf(request.headers['content-type']);
    if (charset !== null && !UTF8_NAMES.has(charset)) {
      // Read as UTF-8 anyway, a UTF-16 or Latin-1 body would be stored as other text than the client sent.
      const named = /^[a-z0-9._:-]{1,40}$/.test(charset) ? `charset ${charset}` : 'that charset';
      done(new AsyncOpsError('unsupported_media_type', `send the body as application/json in UTF-8; ${named} is not supported`), undefined);
      return;
    }
    // Windows tools write a BOM ahead of UTF-8 text; it says nothing of the JSON, so no route may fail on it.
    // parseAs 'string' makes it a string; the parser type does not narrow on it.
    const raw = body as string;
    const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
    parseJson(request, text, done);
  });
}
