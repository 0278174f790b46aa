// Owns: a real local webhook receiver for tests (node:http on 127.0.0.1, port 0) whose reply can be flipped mid-test.
// Not here: verifying signatures (tests call verifyWebhook on what it recorded).
// Invariant: close() ends every connection, hanging ones included, so no test leaves a socket behind.

import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** performance.now() when the request arrived. */
  readonly at: number;
}

/** A status (with optional headers and body), or 'hang': never answer. */
export type Reply = { readonly status: number; readonly headers?: Record<string, string>; readonly body?: string } | 'hang';

export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  #server: Server;
  #reply: (n: number) => Reply = () => ({ status: 200, body: 'ok' });

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<WebhookReceiver> {
    const server = createServer();
    const receiver = new WebhookReceiver(server);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        receiver.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: performance.now() });
        const reply = receiver.#reply(receiver.received.length);
        if (reply === 'hang') return;
        res.writeHead(reply.status, reply.headers);
        res.end(reply.body ?? '');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/hook`;
  }

  /** How to answer the n-th request (1-based, counted over the receiver's life). */
  replyWith(reply: Reply | ((n: number) => Reply)): void {
    this.#reply = typeof reply === 'function' ? reply : () => reply;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
