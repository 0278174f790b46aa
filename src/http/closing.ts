// Owns: the signal that an app has begun to close, which ends what a request holds open (event streams,
// long-polls, Prefer: wait) so close() is never held up by a client that keeps waiting.
// Invariant: one signal per app, registered before the app is ready; it fires in preClose, before the server
// stops; every reply sent after it closes its connection.

import { setMaxListeners } from 'node:events';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AsyncOpsError } from '../domain/errors.ts';

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
    app.addHook('onSend', (_request, reply, payload, done) => {
      if (controller.signal.aborted) reply.header('connection', 'close');
      done(null, payload);
    });
    signal = controller.signal;
    signals.set(app, signal);
  }
  return signal;
}

/**
 * How long a connection on which nothing has been read may still show a request once the app begins to close (or once
 * it was accepted, while closing): a request already sent waits in the kernel until the event loop's next poll reads it.
 */
const UNUSED_AFTER_MS = 100;

/**
 * Drops, once the app begins to close, each connection on which no byte of a request has arrived: a spare connection a
 * client or browser opened ahead of need (a preconnect; undici opens one when a stream's body is cancelled) is not idle
 * to Node, which waits on it for a first request's headers, so close() waited for the headers timeout and `serve` gave up
 * past --grace with an error. A connection that shows a request within UNUSED_AFTER_MS is left to be answered (503, then
 * closed), so a request sent as the stop begins meets that answer, not a reset.
 */
export function dropUnusedConnectionsOnClose(app: FastifyInstance): void {
  const open = new Set<Socket>();
  let closing = false;
  const dropIfUnused = (sockets: Iterable<Socket>) => {
    const candidates = [...sockets].filter((socket) => socket.bytesRead === 0);
    if (candidates.length === 0) return;
    setTimeout(() => {
      for (const socket of candidates) if (socket.bytesRead === 0) socket.destroy();
    }, UNUSED_AFTER_MS);
  };
  app.server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    if (closing) dropIfUnused([socket]);
  });
  app.addHook('preClose', async () => {
    closing = true;
    dropIfUnused(open);
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
