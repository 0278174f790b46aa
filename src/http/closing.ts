// Owns: the signal that an app has begun to close, which ends what a request holds open (event streams,
// long-polls, Prefer: wait) so close() is never held up by a client that keeps waiting.
// Invariant: one signal per app, registered before the app is ready; it fires in preClose, before the server
// stops; the last reply due on a connection after it closes the connection.

import { setMaxListeners } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AsyncOpsError } from '../domain/errors.ts';
import { writeRawProblem } from './problem.ts';

const signals = new WeakMap<FastifyInstance, AbortSignal>();

/** Call while registering routes (hooks cannot be added once the app is ready). */
export function closingSignal(app: FastifyInstance): AbortSignal {
  let signal = signals.get(app);
  if (signal === undefined) {
    const controller = new AbortController();
    // Every open long-poll and event stream listens on it: more than ten is the normal case, not a leak.
    setMaxListeners(0, controller.signal);
    app.addHook('preClose', async () => controller.abort());
    // The server closes the connections idle when it stops and then waits for the rest; one whose reply went
    // out after that (a long-poll answered by this signal, any request in flight) would idle on, kept alive,
    // and hold close() for the keep-alive timeout.
    app.addHook('onSend', (request, reply, payload, done) => {
      if (controller.signal.aborted && lastReplyDue(request.raw.socket)) reply.header('connection', 'close');
      done(null, payload);
    });
    signal = controller.signal;
    signals.set(app, signal);
  }
  return signal;
}

/**
 * Per connection with replies not done yet: how many (requests whose headers are in), and the latest of those requests
 * (all before it on the connection have arrived in full). A connection leaves it when its last reply is done.
 */
const inFlight = new WeakMap<Socket, { due: number; latest: IncomingMessage; reply: ServerResponse }>();

/**
 * Whether a reply sent as the app closes may say `Connection: close`: not while other requests on its connection (sent
 * pipelined behind it) are answered after it, or Node would close the connection and drop their replies, though their
 * work was done (an operation created, its 202 lost). The last reply due says it.
 */
function lastReplyDue(socket: Socket): boolean {
  return (inFlight.get(socket)?.due ?? 0) <= 1;
}

/**
 * How long a connection may go without a byte of a request arriving, once the app begins to close, before it is closed
 * (unless a request on it is being answered): a request already sent waits in the kernel until the event loop's next
 * poll reads it, and one still uploading keeps its connection as long as it moves. Arrived in full, it is answered (503,
 * and the connection closed).
 */
const ARRIVE_WITHIN_MS = 1_000;

/**
 * How long a request still arriving once the app begins to close may go on arriving: then it is answered 503
 * `shutting_down` (its headers in) or its connection closed, so a slow or endless upload cannot hold close() past what
 * `serve` waits for (--grace and 10 s: docs/configuration.md, Shutdown).
 */
export const UPLOAD_WITHIN_MS = 5_000;

/**
 * Closes, once the app begins to close, each connection that would hold close() up with no request to answer: a spare
 * one a client or browser opened ahead of need (a preconnect; undici opens one when a stream's body is cancelled), one
 * whose request stopped arriving (its headers or body cut short), and one whose last reply due went out after the stop
 * began (a pipelined connection, or an event stream the stop ended). Node closes only the connections idle when it
 * stops and waits for the rest, so close() waited for the headers or request timeout (60 s), and `serve` gave up past
 * --grace with exit 1 and an error blaming the store.
 */
export function dropUnusedConnectionsOnClose(app: FastifyInstance, basePath: string): void {
  const open = new Set<Socket>();
  let closing = false;
  let closingSince = 0;
  const answering = (socket: Socket) => {
    const replies = inFlight.get(socket);
    return replies !== undefined && (replies.due > 1 || replies.latest.complete);
  };
  /** A request arriving past UPLOAD_WITHIN_MS: answered 503 if its headers are in and nothing was answered, else cut. */
  const cut = (socket: Socket) => {
    const replies = inFlight.get(socket);
    if (replies === undefined || replies.reply.headersSent) return void socket.destroy();
    const error = new AsyncOpsError(
      'shutting_down',
      'the server is shutting down and this request was still arriving; send it again, to another node or once this one is back',
    );
    replies.reply.once('finish', () => socket.destroy());
    writeRawProblem(replies.latest, replies.reply, basePath, error);
  };
  /** Looks at `socket` every ARRIVE_WITHIN_MS until it closes: one neither answered nor receiving goes. */
  const watch = (socket: Socket) => {
    let read = socket.bytesRead;
    const look = () => {
      if (socket.destroyed) return;
      if (!answering(socket) && socket.bytesRead === read) return void socket.destroy();
      if (!answering(socket) && performance.now() - closingSince >= UPLOAD_WITHIN_MS) return cut(socket);
      read = socket.bytesRead;
      setTimeout(look, ARRIVE_WITHIN_MS).unref();
    };
    setTimeout(look, ARRIVE_WITHIN_MS).unref();
  };
  app.server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    if (closing) watch(socket);
  });
  // Counted before Fastify's own listener runs, which may answer at once (a 503 while closing).
  app.server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    const replies = inFlight.get(socket);
    if (replies === undefined) inFlight.set(socket, { due: 1, latest: request, reply: response });
    else {
      replies.due += 1;
      replies.latest = request;
      replies.reply = response;
    }
    response.once('close', () => {
      const left = inFlight.get(socket);
      if (left !== undefined) left.due -= 1;
      if (left !== undefined && left.due > 0) return;
      inFlight.delete(socket);
      // Its last reply written, a connection kept alive would idle on past close(): ended once what was written is sent.
      if (closing && !socket.destroyed) {
        socket.once('finish', () => socket.destroy());
        socket.end();
      }
    });
  });
  app.addHook('preClose', async () => {
    closing = true;
    closingSince = performance.now();
    for (const socket of open) watch(socket);
  });
}

/**
 * A request that reaches the app once it has begun to close (on a connection kept alive) is refused with a 503 problem.
 * Install before the other onRequest hooks, so nothing else (authentication, rate limits) runs for it.
 */
export function refuseWhileClosing(app: FastifyInstance): void {
  const closing = closingSignal(app);
  app.addHook('onRequest', (_request, _reply, done) => {
    if (!closing.aborted) return done();
    done(new AsyncOpsError('shutting_down', 'the server is shutting down; send the request again, to another node or once this one is back'));
  });
}

/** An AbortSignal that fires when the client goes away or the app begins to close, so waits end with either. */
export function abortOnClose(reply: FastifyReply, closing: AbortSignal): AbortSignal {
  const controller = new AbortController();
  const abort = () => controller.abort();
  // A client gone before this was called (during the submit or first read) has had its 'close' already.
  if (closing.aborted || reply.raw.closed) {
    abort();
    return controller.signal;
  }
  // Removed again once the response is done: `closing` lives as long as the app, a request does not.
  closing.addEventListener('abort', abort, { once: true });
  // The response's 'close' fires when it was sent or the connection dropped, whichever comes first.
  reply.raw.once('close', () => {
    closing.removeEventListener('abort', abort);
    abort();
  });
  return controller.signal;
}
