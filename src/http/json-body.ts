// Owns: reading a JSON request body: the charset its content type declares, its bytes as UTF-8, a leading byte-order
// mark, the parse, and numbers JSON can write but a double cannot hold.
// Not here: its size (Fastify's bodyLimit), nesting depth (input-limits.ts) or fields (route schemas, runtime/).
// Invariant: every route reads a JSON body by this one rule: UTF-8 (a BOM is dropped), any other charset or a
// content-encoding a 415, bytes that are not UTF-8 or a number that parses as ±Infinity a 400, an empty body as none;
// what a route gets is what the client sent.

import type { FastifyInstance } from 'fastify';
import { AsyncOpsError } from '../domain/errors.ts';
import { nonFinitePath, shownPointer } from '../domain/json-values.ts';

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

/**
 * A decoder that refuses what is not UTF-8: decoding with replacement would store U+FFFD where the client sent other
 * bytes. It keeps a leading BOM (ignoreBOM), which the parser drops itself.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A number token that could overflow a double: an exponent of three digits or more, or 309 digits in a row. It may also
 * match inside a string; it only says when to look at the parsed numbers (nonFinitePath), which is exact.
 */
const MAYBE_OVERFLOWING = /[eE][+-]?\d{3}|\d{309}/;

/**
 * Fastify's parser refuses a __proto__ or constructor.prototype key as it refuses malformed JSON; text that JSON.parse
 * reads was refused for such a key, which the client is told. Only run once the parser has refused the body.
 */
function forbiddenKeys(text: string): AsyncOpsError | null {
  try {
    JSON.parse(text);
  } catch {
    return null;
  }
  return new AsyncOpsError('validation_failed', 'the body holds a __proto__ or constructor.prototype key, which no route takes');
}

export function installJsonBodyParser(app: FastifyInstance): void {
  // Fastify's own parser, with its refusal of __proto__ and constructor.prototype keys.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    // No route answers this request (a 404, or a 405 naming the methods that do): what its body holds is no matter,
    // and a malformed one must not stand in for the answer about the path.
    if (request.is404) return done(null, undefined);
    const charset = charsetOf(request.headers['content-type']);
    if (charset !== null && !UTF8_NAMES.has(charset)) {
      // Read as UTF-8 anyway, a UTF-16 or Latin-1 body would be stored as other text than the client sent.
      const named = /^[a-z0-9._:-]{1,40}$/.test(charset) ? `charset ${charset}` : 'that charset';
      done(new AsyncOpsError('unsupported_media_type', `send the body as application/json in UTF-8; ${named} is not supported`), undefined);
      return;
    }
    const encoding = request.headers['content-encoding']?.trim().toLowerCase();
    if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
      // Read as it is, a compressed body would be refused as malformed JSON, or taken as other bytes than were meant.
      const named = /^[a-z0-9, -]{1,40}$/.test(encoding) ? `content-encoding ${encoding}` : 'that content-encoding';
      done(new AsyncOpsError('unsupported_media_type', `send the body uncompressed; ${named} is not supported`), undefined);
      return;
    }
    let raw: string;
    try {
      // parseAs 'buffer' makes it a Buffer; the parser type does not narrow on it.
      raw = UTF8.decode(body as Buffer);
    } catch {
      done(new AsyncOpsError('validation_failed', 'the body is not valid UTF-8: send JSON text encoded as UTF-8'), undefined);
      return;
    }
    // Windows tools write a BOM ahead of UTF-8 text; it says nothing of the JSON, so no route may fail on it.
    const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
    // Nothing at all (a client that sends the content type on every request): as no body, which a route without one
    // (cancel, an optional one's retry) takes, and one that needs a body refuses by its schema.
    if (text.length === 0) return done(null, undefined);
    parseJson(request, text, (error, parsed) => {
      if (error !== null) return done(forbiddenKeys(text) ?? error, undefined);
      const path = MAYBE_OVERFLOWING.test(text) ? nonFinitePath(parsed) : null;
      if (path === null) return done(null, parsed);
      const shown = shownPointer(path);
      done(
        new AsyncOpsError('validation_failed', `the number at ${shown} is too large to represent (it would read as Infinity)`, {
          errors: [{ path: shown, message: 'is a number too large to represent' }],
        }),
        undefined,
      );
    });
  });
}
