// Owns: the CLI's entry: build the program, run it, turn any error into one `asyncops: …` line and an exit status.
// Not here: commands (program.ts registers them) — the server's (server/) come in through `extraCommands`.
// Invariant: no stack trace reaches the user; the exit status always comes from exit-codes.ts.

import { CommanderError } from 'commander';
import { errorHint, EXIT_CODES, exitCodeForError, UsageError, type ExitCode } from './exit-codes.ts';
import { firstArgumentNotUtf8 } from './raw-arguments.ts';
import { buildProgram, type CommandRegistrar } from './program.ts';
import { registerServerCommands } from './server/serve.ts';
import { registerWebhookSecret } from './server/webhook-secret.ts';

/** Commander's own outcomes that are not errors to report: help or version was printed already. */
const SILENT_COMMANDER_CODES = new Set(['commander.help', 'commander.helpDisplayed', 'commander.version']);

/** `extraCommands` defaults to the server's `serve`, `worker` and `webhook-secret`; bin/asyncops.js and `node src/cli/main.ts` both land here. */
export async function main(
  argv: readonly string[] = process.argv,
  extraCommands: readonly CommandRegistrar[] = [registerServerCommands, registerWebhookSecret],
): Promise<ExitCode> {
  const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
  const { program, ctx } = buildProgram({ io, extraCommands });
  io.stdout.on('error', (error) => endOnOutputError(error, ctx.exitCode, (line) => io.stderr.write(line)));
  // Diagnostics that cannot be written are lost; the command goes on (a wait's progress on a full disk, or its reader
  // gone: ending then, with the status decided so far, said 0 of an operation still running and saved no result).
  io.stderr.on('error', () => {});
  try {
    const notUtf8 = argv === process.argv ? firstArgumentNotUtf8() : null;
    if (notUtf8 !== null) {
      throw new UsageError(`argument ${notUtf8} is not UTF-8 text: it would reach the server changed, each byte Node cannot read as U+FFFD`);
    }
    const [first, second] = argv.slice(2);
    // Commander answers `help WORD` for a word that names no command with the whole help, and no word of what was wrong.
    if (first === 'help' && second !== undefined && !second.startsWith('-') && !program.commands.some((c) => c.name() === second)) {
      throw new UsageError(`unknown command '${second}' (its commands: ${program.commands.map((c) => c.name()).join(', ')})`);
    }
    await program.parseAsync([...argv]);
    return ctx.exitCode;
  } catch (error) {
    // Set before the error line is written, so a reader gone by then still sees this status.
    ctx.exitCode = exitCodeForError(error);
    if (!(error instanceof CommanderError && SILENT_COMMANDER_CODES.has(error.code))) {
      io.stderr.write(`asyncops: ${oneLine(error)}${errorHint(error)}\n`);
    }
    return ctx.exitCode;
  }
}

/**
 * `asyncops --help | head -1`: once the reader has gone nothing more can be shown, so end now with the status
 * decided so far, without a word. Any other failure to write (a full disk, an I/O error) loses output the user asked
 * for: one line on stderr and the usage status, as `-o FILE` that cannot be written.
 */
function endOnOutputError(error: NodeJS.ErrnoException, exitCode: ExitCode, tell: (line: string) => void): never {
  if (error.code === 'EPIPE') process.exit(exitCode);
  tell(`asyncops: cannot write to standard output: ${oneLine(error)}\n`);
  process.exit(EXIT_CODES.usage);
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .replace(/^error: /, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .join(' ');
}

if (import.meta.main) process.exitCode = await main();
