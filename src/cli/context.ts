// Owns: what every command shares — the output streams, the exit status being built, the SDK client from the global
// options, and argument parsers. Not here: any one command's behaviour (one file per command).
// Invariant: commands write results to stdout and diagnostics to stderr; they never call process.exit themselves.

import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { AsyncOpsClient } from '../client/index.ts';
import { idSegment } from '../client/client.ts';
import { EXIT_CODES, UsageError, type ExitCode } from './exit-codes.ts';
import { PAGE_LIMIT } from '../config/limits.ts';

export interface CliIo {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly stdin: NodeJS.ReadStream;
}

export interface GlobalOptions {
  url: string;
  apiKey?: string;
}

/** One-shot requests fail fast on an unreachable server; waits ride out restarts and blips with backoff. */
const ONE_SHOT_RETRY = { retries: 0 };

export class CliContext {
  readonly io: CliIo;
  exitCode: ExitCode = EXIT_CODES.ok;

  constructor(io: CliIo) {
    this.io = io;
  }

  client(command: Command, options: { patient?: boolean } = {}): AsyncOpsClient {
    const globals = command.optsWithGlobals<GlobalOptions>();
    // Sent as a header, which carries no other characters: refused here, before a request that cannot be made.
    if (globals.apiKey && !/^[\x21-\x7e]+$/.test(globals.apiKey)) throw new UsageError('--api-key (ASYNCOPS_API_KEY) must be visible ASCII characters');
    try {
      return new AsyncOpsClient({
        baseUrl: globals.url,
        apiKey: globals.apiKey || undefined,
        userAgent: 'asyncops-cli',
        ...(options.patient ? {} : { retry: ONE_SHOT_RETRY }),
      });
    } catch (error) {
      // The SDK refuses a base URL that is not http(s) or carries user:password@, without repeating it.
      if (error instanceof TypeError) throw new UsageError(`--url: ${error.message}`);
      throw error;
    }
  }

  printJson(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** The API's JSON with --json, else the one-line description. */
  show<T>(value: T, json: boolean | undefined, describe: (value: T) => string): void {
    if (json) this.printJson(value);
    else this.printLine(describe(value));
  }

  printLine(line: string): void {
    this.io.stdout.write(`${line}\n`);
  }

  /** A diagnostic that is not the command's output (progress, notices). */
  note(line: string): void {
    this.io.stderr.write(`${line}\n`);
  }
}

/**
 * A command that runs on its own and has subcommands (`schedules` lists, `deliveries` too): a word after it that names
 * none of them is an unknown command, as after `asyncops`, not "too many arguments". Call once its subcommands are
 * added: those added later would take the setting that lets the words through.
 */
export function refuseUnknownSubcommands(command: Command): void {
  command.allowExcessArguments().hook('preAction', (self, acting) => {
    if (acting !== self || self.args.length === 0) return;
    const known = self.commands.map((sub) => sub.name()).join(', ');
    throw new UsageError(`unknown command '${self.args[0]}' for '${self.name()}' (its commands: ${known})`);
  });
}

/** A command-line integer argument, refused by commander as a usage error when it is not one. */
export function integerArg(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || n < min || n > max) {
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER ? `expected a whole number of at least ${min}` : `expected a whole number from ${min} to ${max}`,
      );
    }
    return n;
  };
}

/** An id argument the SDK can send: one that would name another path (`..`) is a usage error, not a request to it. */
export function idArg(value: string): string {
  try {
    idSegment(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
  return value;
}

/** `--idempotency-key`, checked as the API checks the header (no header can carry another), before anything is sent. */
export function checkIdempotencyKey(key: string | undefined): void {
  if (key !== undefined && !/^[\x21-\x7e]{1,255}$/.test(key)) throw new UsageError('--idempotency-key must be 1..255 visible ASCII characters');
}

/** `--limit` of a page: the API caps it, so more is refused here rather than by the server's 400. */
export const pageLimitArg = integerArg(1, PAGE_LIMIT.max);

export function secondsArg(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return n;
}

const RFC_3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Whether the date part names a day its month has: Date.parse rolls 2026-02-30 over to March 2. */
function dayExists(value: string): boolean {
  const [year, month, day] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  // setUTCFullYear, not Date.UTC: that reads the years 0 to 99 as 1900 to 1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** An RFC 3339 date-time, as the API takes it (`2026-12-01` or `Dec 1 2026`, which Date.parse reads, are not one). */
export function timeArg(value: string): string {
  // A leap second (:60) is one RFC 3339 allows and Date.parse does not.
  if (!RFC_3339.test(value) || Number.isNaN(Date.parse(value.replace(/:60(?=[.Zz+-])/, ':59'))) || !dayExists(value)) {
    throw new InvalidArgumentError('expected an RFC 3339 time such as 2026-12-01T09:00:00Z');
  }
  return value;
}

/** Repeatable option: `--secret A --secret B` → ['A', 'B']. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `--input`: inline JSON, `@path` for a JSON file, or `@-` for standard input. */
export async function readJsonInput(spec: string, stdin: NodeJS.ReadStream): Promise<unknown> {
  let text = spec;
  let source = '--input';
  if (spec.startsWith('@')) {
    const path = spec.slice(1);
    source = path === '-' ? 'standard input' : path;
    let bytes: Buffer;
    try {
      bytes = path === '-' ? await readAll(stdin) : await readFile(path);
    } catch (error) {
      throw new UsageError(`cannot read ${source}: ${(error as Error).message}`);
    }
    try {
      // Bytes that are not UTF-8 are refused, as the API refuses such a body, not replaced with U+FFFD.
      text = UTF8.decode(bytes);
    } catch {
      throw new UsageError(`${source} is not UTF-8 text`);
    }
  }
  let value: unknown;
  // A number past a double (1e400) parses as Infinity, which JSON would send as null: refused, as the API refuses it.
  let tooLarge = false;
  try {
    value = JSON.parse(text, (_key, member: unknown) => {
      if (typeof member === 'number' && !Number.isFinite(member)) tooLarge = true;
      return member;
    });
  } catch (error) {
    throw new UsageError(`${source} is not valid JSON: ${(error as Error).message}`);
  }
  if (tooLarge) throw new UsageError(`${source} holds a number too large to represent (past 1.8e308)`);
  return value;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

async function readAll(stream: NodeJS.ReadStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}
