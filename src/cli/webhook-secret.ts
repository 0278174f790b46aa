// Owns: `asyncops webhook-secret`: print the signing secret a server generated and kept in its store
// (when no --webhook-secret was given), so receivers can verify what it sends.
// Invariant: reads the store the server uses; if none was generated yet, generates the one the server will use.

import { Option, type Command } from 'commander';
import type { CliContext } from './context.ts';
import { UsageError } from './exit-codes.ts';

export function registerWebhookSecret(program: Command, ctx: CliContext): void {
  program
    .command('webhook-secret')
    .description("print the webhook signing secret kept in the store (the server's default when --webhook-secret is not given)")
    .addOption(new Option('--store <spec>', 'the store the server uses').env('ASYNCOPS_STORE').default('./asyncops.db'))
    .action(async (opts: { store: string }) => {
      const [{ openStoreFromSpec }, { WEBHOOK_SECRET_SETTING }, { generateWebhookSecret }] = await Promise.all([
        import('../store/open.ts'),
        import('../main.ts'),
        import('../client/webhook-signature.ts'),
      ]);
      let store;
      try {
        store = openStoreFromSpec(opts.store);
      } catch (error) {
        throw new UsageError(`--store: ${(error as Error).message.replace(/^store: /, '')}`);
      }
      await store.open();
      try {
        ctx.printLine(await store.settingGetOrInit(WEBHOOK_SECRET_SETTING, generateWebhookSecret()));
      } finally {
        await store.close();
      }
    });
}
