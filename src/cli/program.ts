// Owns: the commander program — global options, error output, exit-status help — and registering every command on it.
// Not here: the commands themselves (one file each) or process exit (main.ts).
// Invariant: commander never exits the process or prints a usage error of its own format: errors reach main.ts.

import { Command, Option } from 'commander';
import packageJson from '../../package.json' with { type: 'json' };
import { DEFAULTS } from '../config/settings.ts';
import { registerBulk } from './bulk.ts';
import { registerCancel } from './cancel.ts';
import { CliContext, type CliIo } from './context.ts';
import { registerDeliveries } from './deliveries.ts';
import { registerHistory } from './history.ts';
import { exitCodesHelp } from './exit-codes.ts';
import { registerList } from './list.ts';
import { registerListen } from './listen.ts';
import { registerOperator } from './operator.ts';
import { registerResult } from './result.ts';
import { registerSchedules } from './schedules.ts';
import { registerStatus } from './status.ts';
import { registerSubmit } from './submit.ts';
import { registerWait } from './wait.ts';

/** Where `asyncops serve` listens when given no --host or --port. */
export const DEFAULT_URL = `http://${DEFAULTS.host}:${DEFAULTS.port}`;

/** Adds commands to the program (the server's, from server/, come in this way from main.ts). */
export type CommandRegistrar = (program: Command, ctx: CliContext) => void;

const CLIENT_COMMANDS: readonly CommandRegistrar[] = [
  registerSubmit,
  registerStatus,
  registerWait,
  registerResult,
  registerCancel,
  registerBulk,
  registerList,
  registerHistory,
  registerOperator,
  registerDeliveries,
  registerSchedules,
  registerListen,
];

export interface BuildProgramOptions {
  io: CliIo;
  /** Registered after the client commands, e.g. `registerServerCommands` from server/serve.ts. */
  extraCommands?: readonly CommandRegistrar[];
}

export function buildProgram(options: BuildProgramOptions): { program: Command; ctx: CliContext } {
  const ctx = new CliContext(options.io);
  const program = new Command('asyncops')
    .description('async operations for REST APIs: run the server, or submit, follow and fetch operations')
    .version(packageJson.version)
    .addOption(new Option('--url <url>', 'asyncops server URL').env('ASYNCOPS_URL').default(DEFAULT_URL))
    .addOption(new Option('--api-key <key>', 'API key, sent as Authorization: Bearer').env('ASYNCOPS_API_KEY'))
    .addHelpText('after', `\n${exitCodesHelp()}`)
    // Set before commands are added so every subcommand inherits them.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => options.io.stdout.write(text),
      writeErr: (text) => options.io.stderr.write(text),
      // main.ts prints the one `asyncops: …` line for every error, commander's included.
      outputError: () => {},
    })
    .showSuggestionAfterError(true);
  for (const register of [...CLIENT_COMMANDS, ...(options.extraCommands ?? [])]) register(program, ctx);
  return { program, ctx };
}
