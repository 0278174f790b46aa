// Owns: `asyncops listen`, a local webhook receiver: verify each POST's Standard Webhooks signature, print it, answer 204.
// Not here: signature maths (the SDK's verifyWebhook) or retrying (the sender's job; a 401 here makes it retry).
// Invariant: nothing unverified is printed as a delivery; a rejected request gets 401 and one line on stderr.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { Option, type Command } from 'commander';
import { verifyWebhook, WebhookVerificationError } from '../client/index.ts';
import { webhookSecretKey } from '../signing/webhook-signature.ts';
import { LARGEST_BODY_LIMIT_MB, SETTINGS } from '../config/settings.ts';
import { collect, integerArg, type CliContext } from './context.ts';
import { UsageError } from './exit-codes.ts';
import { cannotListen } from './bind-failure.ts';
import { sanitize } from './format.ts';

// A webhook carries the operation with its input, which a server set to its largest --body-limit takes up to that
// size: this takes any body a server sends, and the event around it.
const MAX_BODY_BYTES = (LARGEST_BODY_LIMIT_MB + 1) * 1024 * 1024;

interface ListenFlags {
  port: number;
  host: string;
  secret?: string[];
  json?: boolean;
}

interface WebhookPayload {
  type?: string;
  timestamp?: string;
  operation_id?: string;
  status?: string;
  result_url?: string | null;
  error?: { code?: string; message?: string } | null;
}

export function registerListen(program: Command, ctx: CliContext): void {
  program
    .command('listen')
    .description('run a local webhook receiver that verifies signatures and prints each delivery')
    .addOption(new Option('--port <n>', 'port to listen on (0: any free port)').default(8081).argParser(integerArg(0, 65535)))
    .option('--host <address>', 'address to bind', '127.0.0.1')
    .addOption(
      new Option('--secret <whsec>', "the server's webhook secret; repeat (or separate by spaces/commas) to accept several")
        .env(SETTINGS.webhookSecret.env)
        .argParser(collect),
    )
    .option('--json', 'print each verified delivery as one JSON line')
    .action(async (opts: ListenFlags) => {
      const secrets = secretsOf(opts.secret ?? []);
      const server = createServer((req, res) => {
        receive(ctx, secrets, opts.json === true, req, res).catch((error: unknown) => {
          if (!res.headersSent) res.writeHead(500).end();
          ctx.note(sanitize(`listen: ${(error as Error).message}`));
        });
      });
      server.listen(opts.port, opts.host);
      // once() rejects with the 'error' event itself, so a port in use or a bad --host arrives here.
      await once(server, 'listening').catch((error: unknown) => {
        throw new UsageError(cannotListen(error, opts.host, opts.port));
      });
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : opts.port;
      ctx.note(`listening on http://${opts.host}:${port}/ (Ctrl-C to stop)`);
      await stopOnSignal(server);
    });
}

async function receive(ctx: CliContext, secrets: string[], json: boolean, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'POST' }).end();
    return;
  }
  const body = await readBody(req);
  if (body === null) {
    reject(ctx, res, 413, `body larger than ${LARGEST_BODY_LIMIT_MB + 1} MiB`);
    return;
  }
  let payload: WebhookPayload;
  try {
    payload = (await verifyWebhook(secrets, req.headers, body)) as WebhookPayload;
  } catch (error) {
    if (!(error instanceof WebhookVerificationError)) throw error;
    reject(ctx, res, 401, error.message, req.headers['webhook-id']);
    return;
  }
  res.writeHead(204).end();
  const webhookId = String(req.headers['webhook-id']);
  if (json) {
    ctx.printLine(JSON.stringify({ webhook_id: webhookId, received_at: new Date().toISOString(), payload }));
    return;
  }
  const error = payload.error ? `  error ${payload.error.code ?? ''}: ${payload.error.message ?? ''}` : '';
  const result = payload.result_url ? `  ${payload.result_url}` : '';
  ctx.printLine(
    sanitize(
      `${payload.timestamp ?? '-'}  ${payload.type ?? '-'}  ${payload.operation_id ?? '-'}  ${payload.status ?? '-'}  webhook-id=${webhookId}${result}${error}`,
    ),
  );
}

function reject(ctx: CliContext, res: ServerResponse, status: number, reason: string, webhookId?: string | string[]): void {
  const problem = { type: 'about:blank', title: status === 401 ? 'Invalid webhook signature' : 'Payload too large', status, detail: reason };
  res.writeHead(status, { 'content-type': 'application/problem+json' }).end(JSON.stringify(problem));
  ctx.note(sanitize(`rejected webhook${webhookId ? ` ${String(webhookId)}` : ''}: ${reason}`));
}

async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * The secrets given, read as the server reads its --webhook-secret (so what one is given the other takes); a missing,
 * empty or malformed one is refused up front, not on the first delivery.
 */
function secretsOf(given: readonly string[]): string[] {
  const needed = "listen needs --secret whsec_… (or ASYNCOPS_WEBHOOK_SECRET): the server's webhook secret";
  let secrets: string[];
  try {
    secrets = given.flatMap((s) => SETTINGS.webhookSecret.value.parse(s, '--secret'));
  } catch {
    // A list refuses only one that names nothing; the server's words for it ("leave it unset") would send a listener
    // to the refusal below.
    throw new UsageError(`${needed}: the one given is empty`);
  }
  if (secrets.length === 0) throw new UsageError(needed);
  try {
    for (const secret of secrets) webhookSecretKey(secret);
  } catch (error) {
    throw new UsageError(`--secret: ${(error as Error).message}`);
  }
  return secrets;
}

async function stopOnSignal(server: ReturnType<typeof createServer>): Promise<void> {
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close(() => resolve());
      server.closeAllConnections();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
