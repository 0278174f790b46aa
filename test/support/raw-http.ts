// Owns: HTTP/1.1 requests over a bare socket, sent in two parts: a request line now and the rest later, so a test can
// have a request on the wire (its connection busy, not idle) across an event such as a server beginning to close.
// Invariant: every socket is ended by the server's reply or destroyed by the bound; a reply is read to the end.

import { connect, type Socket } from 'node:net';

export interface RawReply {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: ReadonlyMap<string, string>;
  readonly text: string;
}

export interface PendingRequest {
  /** Sends the rest of the head (these headers, then the blank line) and reads the reply until the server closes. */
  finish(headers: Readonly<Record<string, string>>, timeoutMs?: number): Promise<RawReply>;
}

/** Connects and sends `METHOD path HTTP/1.1` and a Host header, and no more. */
export async function startRequest(port: number, method: string, path: string): Promise<PendingRequest> {
  const socket: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = closed(socket);
  socket.write(`${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n`);
  return {
    async finish(headers, timeoutMs = 10_000) {
      socket.end(
        `${Object.entries(headers)
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join('')}connection: close\r\n\r\n`,
      );
      const timer = setTimeout(() => socket.destroy(), timeoutMs);
      await ended;
      clearTimeout(timer);
      return parse(Buffer.concat(chunks).toString('utf8'));
    },
  };
}

/**
 * Resolves once the socket is closed, whether the server ended it or reset it: a server that answers before a request has
 * all arrived closes a connection still being written to, and the bytes after its close meet a reset (ECONNRESET), which
 * `events.once` would turn into a rejection. The reply read before the reset is kept by the caller's data handler.
 */
export function closed(socket: Socket): Promise<void> {
  socket.on('error', () => {});
  return new Promise<void>((resolve) => socket.once('close', () => resolve()));
}

/** Resolves true once a new connection to the port is refused (the server stopped listening), false if one is taken. */
export function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

function parse(raw: string): RawReply {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`not an HTTP reply: ${JSON.stringify(raw.slice(0, 200))}`);
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1]);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  // The replies read here carry a content-length (Fastify's problems do); chunked bodies are not decoded.
  const body = raw.slice(end + 4);
  const length = headers.get('content-length');
  return { status, headers, text: length === undefined ? body : Buffer.from(body, 'utf8').subarray(0, Number(length)).toString('utf8') };
}
