// Owns: `asyncops webhook-secret`: print the signing secret a server generated and kept in its store (when no
// --webhook-secret was given), or with --tenant the secret(s) that tenant's webhooks are signed with, so receivers can
// verify what it sends.
// Not here: opening the store (main.ts, the composition root, does). Invariant: reads the store the server uses; if
// none was generated yet, generates the one the server will use.

import type { Command } from 'commander';
import { TENANT_NAME } from '../../config/limits.ts';
import { SETTINGS } from '../../config/settings.ts';
import type { CliContext } from '../context.ts';
import { UsageError } from '../exit-codes.ts';
import { settingOption } from './setting-options.ts';

export function registerWebhookSecret(program: Command, ctx: CliContext): void {
  program
    .command('webhook-secret')
    .description("print the webhook signing secret kept in the store (the server's default when --webhook-secret is not given)")
    .addOption(settingOption(SETTINGS.store, { help: 'the store the server uses' }))
    .option('--tenant <name>', "that tenant's secret, derived from the server's (each tenant's webhooks are signed with its own)")
    .addOption(
      settingOption(SETTINGS.webhookSecret, {
        help: "the server's --webhook-secret, when it was given one: printed, or with --tenant derived from, instead of the secret kept in the store",
      }),
    )
    .action(async (opts: { store: string; tenant?: string; webhookSecret?: string[] }) => {
      // A name no key can carry ('acme ' pasted with its space) would print a secret no webhook is ever signed with.
      if (opts.tenant !== undefined && !TENANT_NAME.test(opts.tenant)) {
        throw new UsageError(
          `--tenant: ${JSON.stringify(opts.tenant)} is not a tenant's name: 1 to 64 letters, digits, '_', '.' or '-', from a letter or digit`,
        );
      }
      // A server given --webhook-secret signs with those, not with the one kept in the store.
      if (opts.webhookSecret !== undefined) {
        ctx.printLine((await tenantSecretsOf(opts.webhookSecret, opts.tenant ?? 'default')).join(' '));
        return;
      }
      // Loaded here, not at the top, so client commands start without the server's dependencies.
      const { keptWebhookSecret, parseStoreSpec } = await import('../../main.ts');
      let spec: ReturnType<typeof parseStoreSpec>;
      try {
        spec = parseStoreSpec(opts.store);
      } catch (error) {
        throw new UsageError(`--store: ${(error as Error).message.replace(/^store: /, '')}`);
      }
      // An in-memory store is this process's alone: its secret would be one no server signs with.
      if (spec.kind === 'sqlite' && spec.path === ':memory:')
        throw new UsageError('--store: :memory: holds no server’s secret; name the store the server uses');
      // A store that is not there yet (a file, a PostgreSQL schema) is made, with the secret the server will use once it
      // starts on it; a mistyped path or schema makes one too, so say so.
      const kept = await keptWebhookSecret(opts.store);
      ctx.printLine(opts.tenant === undefined ? kept.secret : (await tenantSecretsOf([kept.secret], opts.tenant)).join(' '));
      if (kept.made) {
        const where =
          spec.kind === 'sqlite'
            ? `at ${spec.path}`
            : `in schema ${JSON.stringify(spec.schema ?? 'asyncops')}${spec.schema === undefined ? ' (the default)' : ''} of that database`;
        ctx.note(`asyncops: no store was ${where}: made one; a server started on it signs with this secret`);
      }
    });
}

async function tenantSecretsOf(secrets: readonly string[], tenant: string): Promise<string[]> {
  const { tenantSecrets } = await import('../../main.ts');
  try {
    return await tenantSecrets(secrets, tenant);
  } catch (error) {
    throw new UsageError(`--webhook-secret: ${(error as Error).message}`);
  }
}
