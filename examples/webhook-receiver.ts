// A webhook receiver: verifies each request's Standard Webhooks signature with the SDK (asyncops/client, which runs in
// Node, browsers, Deno and Bun alike) and prints the typed event. 204 accepts it; 401 makes asyncops retry it later.
//
//   npm run build                             (once, in a checkout: it imports 'asyncops' as an app does, from dist/)
//   WEBHOOK_SECRET=whsec_… npx node examples/webhook-receiver.ts      (what `npx asyncops webhook-secret` prints; with API keys, `… --tenant NAME`)
//   then submit with "webhook_url": "http://127.0.0.1:4000/hooks" (a server started with --allow-private-webhooks)

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { verifyWebhook, WebhookVerificationError, type WebhookEvent } from 'asyncops/client';

// A webhook carries the operation with its input: up to the server's --body-limit (at most 64 MiB) and the event around it.
const MAX_BODY_BYTES = 65 * 1024 * 1024;

export function webhookReceiver(secret: string, onEvent: (event: WebhookEvent, webhookId: string) => void): Server {
  return createServer((req, res) => {
    // Every failure ends here, never as an unhandled rejection, which would stop the process: a client that goes away
    // in the middle of its body (anyone can send one) fails its own request, and onEvent throwing is a 500 asyncops
    // retries.
    receive(req, res).catch((error: unknown) => {
      console.error(`webhook receiver: ${error instanceof Error ? error.message : String(error)}`);
      if (res.headersSent) res.destroy();
      else res.writeHead(500).end();
    });
  });

  async function receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end();
    const body = await readBody(req);
    if (body === null) return void res.writeHead(413).end();
    let event: WebhookEvent;
    try {
      // The bytes as received: a body parsed and serialised again would not verify.
      event = await verifyWebhook(secret, req.headers, body);
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      return void res.writeHead(401, { 'content-type': 'text/plain' }).end(error.message);
    }
    // Deliveries are at least once: the same webhook-id may come again; handle it once.
    onEvent(event, String(req.headers['webhook-id']));
    res.writeHead(204).end();
  }
}

async function readBody(req: IncomingMessage): Promise<Uint8Array | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

if (import.meta.main) {
  const secret = process.env.WEBHOOK_SECRET;
  if (!secret) throw new Error("set WEBHOOK_SECRET to the server's signing secret (whsec_…)");
  const server = webhookReceiver(secret, (event, webhookId) => {
    const outcome = event.status === 'completed' ? event.result_url : `${event.error?.code}: ${event.error?.message}`;
    console.log(JSON.stringify({ webhook_id: webhookId, type: event.type, operation_id: event.operation_id, outcome }));
  });
  server.listen(Number(process.env.PORT ?? 4000), '127.0.0.1', () => {
    const address = server.address();
    console.log(`webhook receiver listening on http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : ''}/hooks`);
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => server.close());
}
