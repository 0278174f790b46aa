// Owns: the logger's redaction of secrets at any depth (redactDeep), alone and in the real server's log lines.
// Not here: a request's URL in a line (http/stream-tokens), the request logger's bindings (http/request-logger).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { pino } from 'pino';
import {
  REDACTED,
  REDACTED_LOG_PATHS,
  redactChildBindings,
  redactDeep,
  redactingChildOf,
  redactingFormatters,
  redactingOptions,
} from '../../src/telemetry/log-redaction.ts';

/** A logger made as the server's default one is (main.ts defaultLogger), writing its lines to `lines`. */
function defaultLike(lines: string[]) {
  return redactChildBindings(pino(redactingOptions(undefined), { write: (line: string) => lines.push(line) }));
}
import { REPO_ROOT, startServer } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';

describe('log redaction', () => {
  it('redacts secret fields in nested objects and in arrays, whatever their case, and keeps the rest', () => {
    const line = {
      msg: 'calling out',
      request: { headers: { Authorization: 'Bearer x', accept: 'json' } },
      config: { db: { deeper: { PASSWORD: 'p', host: 'db' } } },
      clients: [{ apiKey: 'k' }, 'plain', [{ secrets: ['s'] }]],
      connectionString: 'postgres://u:p@h/d',
      n: 1,
    };
    assert.deepEqual(redactDeep(line), {
      msg: 'calling out',
      request: { headers: { Authorization: REDACTED, accept: 'json' } },
      config: { db: { deeper: { PASSWORD: REDACTED, host: 'db' } } },
      clients: [{ apiKey: REDACTED }, 'plain', [{ secrets: REDACTED }]],
      connectionString: REDACTED,
      n: 1,
    });
    assert.equal(line.config.db.deeper.PASSWORD, 'p', 'the caller’s object is not changed');
  });

  it('takes the spellings of a secret field: API_KEY, api-key, webhookSecret, x-api-key, proxy-authorization, token', () => {
    const names = [
      'api_key',
      'API_KEY',
      'api-key',
      'webhook_secret',
      'webhookSecret',
      'x-api-key',
      'proxy-authorization',
      'token',
      'access_token',
      'client_secret',
    ];
    const redacted = redactDeep({ names: Object.fromEntries(names.map((name) => [name, 'leak'])), lease_token: 'kept', tokens: 3 });
    assert.deepEqual(redacted, { names: Object.fromEntries(names.map((name) => [name, REDACTED])), lease_token: 'kept', tokens: 3 });
  });

  it('a class instance one level down that pino cannot read on its copy never throws out of a log call: a URL is its text without its password', () => {
    const lines: string[] = [];
    const log = defaultLike(lines);
    class Vault {
      #password = 'private-state';
      get password() {
        return this.#password;
      }
    }
    log.info({ target: new URL('https://user:hunter2@example.com/x') }, 'a url');
    log.child({ target: new URL('https://example.com/y') }).info('a child');
    log.info('interpolated %j and %j', new URL('https://user:hunter2@example.com/z'), { at: new URL('https://example.com/w') });
    log.warn({ vault: new Vault() }, 'a class pino reads a copy of');
    const written = lines.map((line) => JSON.parse(line));
    assert.equal(written[0].target, 'https://user:%5BRedacted%5D@example.com/x');
    assert.equal(written[1].target, 'https://example.com/y');
    assert.match(written[2].msg, /^interpolated 'https:\/\/user:%5BRedacted%5D@example.com\/z' and \{"at":"https:\/\/example.com\/w"\}$/);
    assert.deepEqual([written[3].msg, typeof written[3].log_error], ['a class pino reads a copy of', 'string']);
    log.warn({ vault: new Vault() }, 'kept %s and %d', 'text', 7);
    assert.equal(JSON.parse(lines.at(-1)!).msg, 'kept text and 7', 'the message keeps what it interpolates');
    // pino's way to leave out pid and hostname: a logger with no bindings at all.
    const bare: string[] = [];
    redactChildBindings(pino(redactingOptions({ base: undefined }), { write: (line: string) => bare.push(line) })).info({ a: 1 }, 'no base');
    assert.deepEqual([JSON.parse(bare[0]!).a, JSON.parse(bare[0]!).pid], [1, undefined]);
    assert.doesNotMatch(lines.join('\n'), /hunter2|private-state/);
  });

  it('a serializer gets the instance it serializes (a URL as its text), and a URL from a mixin, a formatter or a serializer never throws', () => {
    const lines: string[] = [];
    const write = { write: (line: string) => lines.push(line) };
    const serializers = { at: (d: Date) => d.getTime(), target: (u: unknown) => `${typeof u}: ${String(u)}`, same: (u: unknown) => u };
    const log = redactChildBindings(pino(redactingOptions({ serializers }), write));
    log.info({ at: new Date(0), target: new URL('https://u:pw@example.com/a'), same: new URL('https://u:pw@example.com/b'), count: 3 }, 'serialized');
    log.child({ at: new Date(0) }).info('bound');
    log.child({ link: new URL('https://u:pw@example.com/c') }, { serializers: { link: (u: unknown) => u } }).info('own');
    log.info('date %j', new Date(0));
    const mixed = redactChildBindings(pino(redactingOptions({ mixin: () => ({ db: new URL('https://user:pw@db.example/x') }) }), write));
    mixed.info('from a mixin');
    const formatted = redactChildBindings(
      pino(redactingOptions({ formatters: { log: (o) => ({ ...o, db: new URL('https://user:pw@db.example/y') }) } }), write),
    );
    formatted.info({ x: 1 }, 'from a formatter');
    const written = lines.map((line) => JSON.parse(line));
    assert.deepEqual(
      [written[0].at, written[0].target, written[0].same, written[0].count],
      [0, 'string: https://u:%5BRedacted%5D@example.com/a', 'https://u:%5BRedacted%5D@example.com/b', 3],
    );
    assert.equal(written[1].at, 0);
    assert.equal(written[2].link, 'https://u:%5BRedacted%5D@example.com/c');
    assert.equal(written[3].msg, 'date "1970-01-01T00:00:00.000Z"', 'as JSON writes a Date');
    assert.equal(written[4].db, 'https://user:%5BRedacted%5D@db.example/x');
    assert.equal(written[5].db, 'https://user:%5BRedacted%5D@db.example/y');
    mixed.info({ a: 1 }, { u: new URL('https://user:pw@db.example/z') } as unknown as string);
    assert.equal(JSON.parse(lines.at(-1)!).msg.u, 'https://user:%5BRedacted%5D@db.example/z', 'an object given as the message');
    mixed.info({ a: 1 }, [new URL('https://user:pw@db.example/v'), 'x'] as unknown as string);
    assert.deepEqual(JSON.parse(lines.at(-1)!).msg, ['https://user:%5BRedacted%5D@db.example/v', 'x'], 'an array stays one');
    mixed.info({ a: 1 }, new URL('https://user:pw@db.example/w') as unknown as string);
    assert.deepEqual([JSON.parse(lines.at(-1)!).a, JSON.parse(lines.at(-1)!).msg], [1, 'https://user:%5BRedacted%5D@db.example/w'], 'a URL as the message');
    assert.doesNotMatch(lines.join('\n'), /:pw@/);
  });

  it('a URL deeper down, in an array or in an error is written without its password', () => {
    const lines: string[] = [];
    const log = defaultLike(lines);
    const dsn = () => new URL('postgres://app:s3cret@db.internal:5432/prod');
    log.info({ config: { db: { url: dsn() } } }, 'nested');
    log.info({ targets: [dsn(), 'https://example.com/'] }, 'in an array');
    log.error({ err: Object.assign(new Error('connect failed'), { url: dsn() }) }, 'an error');
    log.info({ config: { site: new URL('https://example.com/a') } }, 'no password');
    const written = lines.map((line) => JSON.parse(line));
    const safe = 'postgres://app:%5BRedacted%5D@db.internal:5432/prod';
    assert.equal(written[0].config.db.url, safe);
    assert.deepEqual(written[1].targets, [safe, 'https://example.com/']);
    assert.equal(written[2].err.url, safe);
    assert.equal(written[2].err.message, 'connect failed');
    assert.equal(written[3].config.site, 'https://example.com/a');
    assert.doesNotMatch(lines.join('\n'), /s3cret/);
  });

  it("a logger asyncops is given (an app's) is written to redacted, after its own formatter, at its level as it changes", () => {
    const lines: string[] = [];
    const app = pino({ level: 'info', formatters: { log: (object) => ({ ...object, app_formatted: true }) } }, { write: (line: string) => lines.push(line) });
    const given = redactingChildOf(app).child({ component: 'worker', token: 'bound-token' });
    given.debug({ password: 'debug-password' }, 'not written at info');
    assert.deepEqual(lines, []);
    app.level = 'debug';
    given.debug({ password: 'p1', nested: [{ Authorization: 'Bearer b' }] }, 'with %j', { client_secret: 'c' });
    const line = JSON.parse(lines[0]!);
    assert.deepEqual(
      { password: line.password, nested: line.nested, msg: line.msg, token: line.token, app_formatted: line.app_formatted },
      { password: REDACTED, nested: [{ Authorization: REDACTED }], msg: `with {"client_secret":"${REDACTED}"}`, token: REDACTED, app_formatted: true },
    );
    app.info({ password: 'the-apps-own' }, 'the app logs as it chooses');
    assert.equal(JSON.parse(lines[1]!).password, 'the-apps-own');
    // A child with a level of its own (pino gives it methods of its own), made so or set later.
    app.level = 'info';
    const levelled = given.child({}, { level: 'debug' });
    levelled.debug('own level %j', { password: 'levelled-password' });
    levelled.level = 'trace';
    levelled.trace({ nested: { secret: 'traced-secret' } }, 'set later %j', { api_key: 'traced-key' });
    given.debug('still off at the app level');
    const written = lines.slice(2).map((line) => JSON.parse(line));
    assert.deepEqual(
      written.map((line) => line.msg),
      [`own level {"password":"${REDACTED}"}`, `set later {"api_key":"${REDACTED}"}`],
    );
    assert.deepEqual(written[1].nested, { secret: REDACTED });
  });

  it("an HTTP client's error carrying the request it sent (axios's `request`) is written without the head's credentials", async () => {
    const lines: string[] = [];
    const log = defaultLike(lines);
    const server = createServer((_req, res) => res.end('no'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const sent = httpRequest({
        port,
        host: '127.0.0.1',
        path: '/dead',
        headers: { Authorization: 'Bearer head-token', 'X-Api-Key': 'head-key', accept: 'json' },
      });
      const answered = once(sent, 'response');
      sent.end();
      const [response] = (await answered) as [IncomingMessage];
      response.resume();
      const error = Object.assign(new Error('Request failed with status code 500'), {
        request: sent,
        config: { headers: { Authorization: 'Bearer config-token' } },
      });
      log.error({ err: error }, 'upstream call failed');
      // Escaped twice: the head as a string inside the message's JSON.
      log.info('as %j', { head: (sent as unknown as { _header: string })._header });
      // A value holding a quote or a backslash, which the line escapes: all of it is the credential's.
      const odd = 'GET /x HTTP/1.1\r\nAuthorization: Bearer abc"odd-one\r\nX-Api-Key: key\\odd-two\r\nAccept: json\r\n\r\n';
      log.error({ err: { request: { _header: odd } } }, 'odd head');
      log.info('odd %j', { head: odd });
    } finally {
      server.close();
    }
    assert.doesNotMatch(lines.join('\n'), /head-token|head-key|config-token|odd-one|odd-two/);
    assert.match(JSON.parse(lines[2]!).err.request._header, /\r\nAccept: json\r\n/, 'what follows the odd values is kept');
    const written = JSON.parse(lines[0]!);
    assert.match(written.err.request._header, /^GET \/dead HTTP\/1\.1\r\n/);
    assert.match(written.err.request._header, /\r\nAuthorization: \[Redacted\]\r\n/);
    assert.match(written.err.request._header, /\r\nX-Api-Key: \[Redacted\]\r\n/);
    assert.match(written.err.request._header, /\r\naccept: json\r\n/);
    const twice = JSON.parse(JSON.parse(lines[1]!).msg.slice('as '.length)).head;
    assert.match(twice, /\r\nAuthorization: \[Redacted\]\r\nX-Api-Key: \[Redacted\]\r\naccept: json\r\n/, 'what follows a redacted line is kept');
  });

  it('passes a line without secrets on as it is', () => {
    const plain = { msg: 'hello', nested: { a: [1, 2, { b: 'c' }] }, at: new Date(0), bytes: Buffer.from('x'), map: new Map([['password', 'p']]) };
    assert.equal(redactDeep(plain), plain);
  });

  it('redacts inside errors (kept errors of their class, message and stack), cycles and deep lines, and leaves class instances alone', () => {
    const err = Object.assign(new TypeError('Request failed'), { config: { headers: { Authorization: 'Bearer axios' } }, status: 401 });
    const out = redactDeep({ err }) as { err: TypeError & { config: { headers: Record<string, unknown> }; status: number } };
    assert.ok(out.err instanceof TypeError);
    assert.equal(out.err.message, 'Request failed');
    assert.equal(out.err.stack, err.stack);
    assert.equal(out.err.status, 401);
    assert.equal(out.err.config.headers.Authorization, REDACTED);
    assert.equal(err.config.headers.Authorization, 'Bearer axios', 'the error itself is not changed');
    // A class instance is its serializer's (which may read its getters and methods) or JSON's: left as it is.
    class Settings {
      password = 'in-instance';
      host = 'db';
    }
    const withInstance = { a: { settings: new Settings() } };
    assert.equal(redactDeep(withInstance), withInstance);
    const request: Record<string, unknown> = { headers: { authorization: 'Bearer cycle' } };
    request.self = request;
    const cut = JSON.stringify(redactDeep({ request }));
    assert.doesNotMatch(cut, /Bearer cycle/, cut);
    let deep: Record<string, unknown> = { password: 'too deep' };
    for (let i = 0; i < 40; i++) deep = { inner: deep };
    assert.doesNotMatch(JSON.stringify(redactDeep(deep)), /too deep"/);
  });

  it('a value that cannot be read is left as it is, and the rest of the line is redacted all the same', () => {
    const throwing = () => {
      throw new Error('getter');
    };
    const line = { a: { response: Object.defineProperty({}, 'body', { enumerable: true, get: throwing }) } };
    assert.equal(redactDeep(line), line);
    const proxy = new Proxy({}, { ownKeys: throwing });
    const withProxy = { a: { proxy } };
    assert.equal(redactDeep(withProxy), withProxy);
    const both = redactDeep({
      a: { b: { c: { password: 'beside' } } },
      d: { e: proxy },
      f: Object.defineProperty({ secret: 's' }, 'x', { enumerable: true, get: throwing }),
    });
    const text = JSON.stringify({ ...both, d: null });
    assert.doesNotMatch(text, /beside|"s"/, text);
    assert.match(text, /\[Unreadable\]/, 'the field that throws, in the copy made for the secret beside it');
  });

  it('a DOMException (message and name on its prototype) is written whole through a real pino, its secret field redacted', () => {
    const lines: string[] = [];
    const logger = redactChildBindings(
      pino({ redact: REDACTED_LOG_PATHS, formatters: redactingFormatters(undefined) }, { write: (line: string) => lines.push(line) }),
    );
    const aborted = Object.assign(new DOMException('the call was aborted', 'AbortError'), { config: { headers: { authorization: 'Bearer dom' } } });
    logger.error({ err: aborted }, 'call failed');
    const written = JSON.parse(lines[0]!) as { err: Record<string, unknown> };
    assert.equal(written.err.type, 'DOMException');
    assert.equal(written.err.message, 'the call was aborted');
    assert.doesNotMatch(lines[0]!, /Bearer dom/);
  });

  it('what pino writes of an error with a toJSON, an error-like object and a Proxy whose prototype trap throws is redacted', () => {
    const lines: string[] = [];
    const logger = redactChildBindings(
      pino({ redact: REDACTED_LOG_PATHS, formatters: redactingFormatters(undefined) }, { write: (line: string) => lines.push(line) }),
    );
    // As axios's errors: a toJSON pino's serializer does not call, and the request's headers in a field.
    class HttpClientError extends Error {
      toJSON() {
        return { message: this.message };
      }
    }
    logger.error({ err: Object.assign(new HttpClientError('Request failed'), { config: { headers: { Authorization: 'Bearer leak-1' } } }) }, 'call failed');
    const trapped = new Proxy(
      { password: 'leak-2' },
      {
        getPrototypeOf() {
          throw new Error('trap');
        },
      },
    );
    logger.info({ a: { data: trapped } }, 'proxy');
    logger.child({ a: { b: trapped } }).info('proxy bound');
    logger.error({ err: Object.assign(Object.create({ Password: 'leak-3' }), { message: 'error-like' }) }, 'error-like');
    const text = lines.join('');
    assert.equal(lines.length, 4);
    assert.doesNotMatch(text, /leak-/, text);
    assert.match(lines[0]!, /"message":"Request failed"/);
  });

  it('leaves a line without secrets as it was: deep ones, cycles, errors whose prototype has getters', () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 40; i++) deep = { i: deep };
    const deepLine = { deep };
    assert.equal(redactDeep(deepLine), deepLine);
    const cyclic: Record<string, unknown> = { n: 1 };
    cyclic.self = cyclic;
    const cause = new Error('c');
    cause.cause = cause;
    const cycles = { cyclic, err: cause };
    assert.equal(redactDeep(cycles), cycles);
  });

  it('writes what it wrote of an error whose prototype has getters, under any key, and only the secret changes', () => {
    const lines: string[] = [];
    const logger = defaultLike(lines);
    const aborted = Object.assign(new DOMException('aborted', 'AbortError'), { request: { password: 'p-1', id: 7 } });
    class Kinded extends Error {}
    Object.defineProperty(Kinded.prototype, 'kind', { get: () => 'k', enumerable: true });
    logger.error({ e: aborted, list: [aborted], k: Object.assign(new Kinded('m'), { cfg: { password: 'p-2' } }) }, 'x');
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.deepEqual(line.e, { request: { password: REDACTED, id: 7 } });
    assert.deepEqual(line.list, [{ request: { password: REDACTED, id: 7 } }]);
    assert.deepEqual(line.k, { cfg: { password: REDACTED } });
  });

  it('redacts what a message interpolates, a child made with its own formatters and bindings set later', () => {
    const lines: string[] = [];
    const logger = defaultLike(lines);
    logger.info('body %j', { q: { r: { password: 'p-3' } } });
    logger.child({ a: 1 }, { formatters: { log: (o: object) => o } }).info({ q: { r: { password: 'p-4' } } }, 'own formatter');
    const child = logger.child({ operation_id: 'op_1' });
    child.setBindings({ db: { conn: { password: 'p-5' } } });
    child.info('set later');
    assert.equal(lines.length, 3);
    assert.doesNotMatch(lines.join(''), /p-[345]/, lines.join(''));
  });

  it('an error that carries a secret keeps what it inherits: a DOMException its name and code, a class its prototype fields', () => {
    const lines: string[] = [];
    const logger = defaultLike(lines);
    class Transient extends Error {}
    Object.assign(Transient.prototype, { kind: 'transient' });
    logger.info({ err: Object.assign(new DOMException('dm', 'AbortError'), { q: { password: 'p-6' } }) }, 'dom');
    logger.info({ err: Object.assign(new Transient('t'), { cfg: { password: 'p-7' } }) }, 'class');
    logger.info({ err: Object.assign(Object.create({ code: 'E_X', inherited: { password: 'p-8' } }), { message: 'm' }) }, 'error-like');
    const [dom, kinded, like] = lines.map((line) => JSON.parse(line) as { err: Record<string, unknown> });
    assert.doesNotMatch(lines.join(''), /p-[678]/, lines.join(''));
    assert.equal(dom!.err.name, 'AbortError');
    assert.equal(dom!.err.code, 20);
    assert.equal(kinded!.err.kind, 'transient');
    assert.equal(like!.err.code, 'E_X');
    assert.deepEqual(like!.err.inherited, { password: REDACTED });
  });

  it('what a message writes as text or a number keeps its toString and valueOf; what it writes as JSON is redacted, whatever comes first', () => {
    const lines: string[] = [];
    const logger = defaultLike(lines);
    class User {
      name = 'ann';
      password = 'p-9';
      toString() {
        return `User(${this.name})`;
      }
      valueOf() {
        return 250;
      }
    }
    // pino's types take only strings and numbers for %s and %d; a value's own toString and valueOf is what users pass.
    (logger.info as (...args: unknown[]) => void)('login by %s for %d, %% done', new User(), new User());
    logger.info({ a: 1 }, 'object first %j', { db: { x: { password: 'p-10' } } });
    logger.info(null, 'null first %o', { db: { x: { password: 'p-11' } } });
    const [text, objectFirst, nullFirst] = lines.map((line) => JSON.parse(line) as { msg: string });
    assert.equal(text!.msg, 'login by User(ann) for 250, % done');
    assert.doesNotMatch(`${objectFirst!.msg} ${nullFirst!.msg}`, /p-1[01]/);
  });

  it('a serializer gets the class instance it serializes, whatever secret it holds, and a value each unknown %x takes is counted', () => {
    const lines: string[] = [];
    class User {
      id = 'u1';
      first = 'Ada';
      password = 'p-12';
      get fullName() {
        return `${this.first} L`;
      }
      summary() {
        return `${this.id}:${this.fullName}`;
      }
    }
    const logger = redactChildBindings(
      pino(redactingOptions({ serializers: { user: (u: User) => ({ id: u.id, name: u.fullName }), acct: (u: User) => u.summary() } }), {
        write: (line: string) => lines.push(line),
      }),
    );
    logger.info({ user: new User(), acct: new User() }, 'login');
    (logger.info as (...args: unknown[]) => void)('a% b %s %j', 'x', 'y', { q: { password: 'p-13' } });
    const [login, odd] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(login!.user, { id: 'u1', name: 'Ada L' });
    assert.equal(login!.acct, 'u1:Ada L');
    assert.doesNotMatch(String(odd!.msg), /p-13/, String(odd!.msg));
  });

  it('an error whose class reads private state (a getter, a method, a toJSON) is redacted and written as before; a cyclic cause stays one; an object message is redacted', () => {
    const lines: string[] = [];
    class WithStatus extends Error {
      #status = 503;
      get statusCode() {
        return this.#status;
      }
      status() {
        return this.#status;
      }
      toJSON() {
        return { message: this.message, status: this.statusCode, config: (this as unknown as { config: unknown }).config };
      }
    }
    const logger = redactChildBindings(
      pino(redactingOptions({ serializers: { failure: (e: WithStatus) => ({ msg: e.message, code: e.statusCode, status: e.status() }) } }), {
        write: (line: string) => lines.push(line),
      }),
    );
    const failing = () => Object.assign(new WithStatus('boom'), { config: { headers: { authorization: 'p-14' } } });
    logger.error({ err: failing() }, 'private');
    logger.error({ failure: failing() }, 'serialized');
    logger.info({ ctx: { e: failing() } }, 'nested');
    const cyclic = Object.assign(new Error('cyc'), { x: { password: 'p-15' } });
    cyclic.cause = cyclic;
    logger.error(cyclic);
    logger.info({ t: 1 }, { request: { auth: { password: 'p-16' } } } as unknown as string);
    const query = Object.assign(Object.create(Object.create(null)) as Record<string, unknown>, { q: { password: 'p-17' } });
    logger.info({ request: { query } }, 'query');
    assert.equal(lines.length, 6, 'every call wrote its line');
    assert.doesNotMatch(lines.join(''), /p-1[4-7]/, lines.join(''));
    const [err, serialized, nested, cycled] = lines.map((line) => JSON.parse(line) as Record<string, Record<string, unknown>>);
    assert.deepEqual(err!.err!.config, { headers: { authorization: REDACTED } });
    assert.deepEqual(serialized!.failure, { msg: 'boom', code: 503, status: 503 });
    assert.equal((nested!.ctx!.e as { status: number }).status, 503, 'its toJSON, run on the error');
    assert.match(String(cycled!.err!.message), /^cyc: cyc/, 'the cause chain as pino writes it');
  });

  it('an error holding a field fixed (non-writable, non-configurable) that leads back to itself is written, its own secret redacted', () => {
    const lines: string[] = [];
    const logger = defaultLike(lines);
    const fixedSelf = Object.assign(new Error('fixed'), { password: 'p-18' });
    Object.defineProperty(fixedSelf, 'back', { value: fixedSelf, enumerable: true });
    logger.info({ err: fixedSelf }, 'fixed');
    assert.equal(lines.length, 1);
    assert.equal((JSON.parse(lines[0]!) as { err: Record<string, unknown> }).err.password, REDACTED);
  });

  it("a child logger's bindings and a caller's own formatters are redacted too", () => {
    const lines: string[] = [];
    const logger = redactChildBindings(
      pino(
        { redact: REDACTED_LOG_PATHS, formatters: redactingFormatters({ log: (o) => ({ ...o, wrapped: { password: 'from-own-formatter' } }) }) },
        { write: (line: string) => lines.push(line) },
      ),
    );
    logger
      .child({ config: { db: { password: 'bound' } }, clients: [{ apiKey: 'bound-key' }] })
      .child({ grandchild: { token: { secret: 'bound-twice' } } })
      .info({ deep: { a: { secret: 's' } } }, 'child line');
    const text = lines.join('');
    for (const secret of ['bound', 'bound-key', 'bound-twice', 'from-own-formatter', '"s"']) assert.doesNotMatch(text, new RegExp(secret), text);
    assert.match(text, /child line/);
  });

  it("the real server's log lines carry no secret a handler logs nested in objects or arrays", async () => {
    const node = await startServer({ args: ['--tasks', join(REPO_ROOT, 'test/fixtures/logging-tasks.ts')] });
    try {
      const created = await request(node.url, 'POST', '/operations', { body: { type: 'leaky_log', input: {} }, headers: { prefer: 'wait=10' } });
      assert.equal(created.body.status, 'completed');
      const line = await waitFor(() => node.logs.find((e) => e.msg === 'calling out'), { what: 'the handler’s line' });
      const text = JSON.stringify(line);
      for (const secret of ['nested-bearer', 'nested-password', 'array-key', 'one-down-key']) assert.doesNotMatch(text, new RegExp(secret), text);
      assert.equal((line as { kept?: unknown }).kept, 'visible');
      assert.deepEqual((line as { clients?: unknown }).clients, [{ name: 'geo', apiKey: REDACTED }]);
    } finally {
      await node.stop();
    }
  });
});
