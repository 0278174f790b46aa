// Owns: `asyncops result ID`, and writing a fetched result to a file or stdout.
// Not here: waiting for the operation to finish (wait.ts) — a result asked for too early is the server's 409.
// Invariant: the bytes are written exactly as the server sent them; only --json re-renders. Bytes a terminal would not
// show as they are reach one only when asked for (-o -).

import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { OperationResult } from '../client/index.ts';
import { idArg, type CliContext } from './context.ts';
import { UsageError } from './exit-codes.ts';

/** Writes the result bytes to `file`, or to stdout for `-`. */
export async function saveResult(ctx: CliContext, result: Pick<OperationResult, 'contentType' | 'body'>, file: string): Promise<void> {
  if (file === '-') {
    ctx.io.stdout.write(result.body);
    return;
  }
  try {
    await writeFile(file, result.body);
  } catch (error) {
    throw new UsageError(`cannot write ${file}: ${(error as Error).message}`);
  }
  ctx.note(`saved ${result.body.length} bytes (${result.contentType}) to ${file}`);
}

// ignoreBOM: a text's byte-order mark is part of what was sent, and kept.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Whether bytes are text a terminal shows as it is: UTF-8 without control characters but tab and line ends. Others (an
 * image, a zip, a handler's escape sequences) would garble the terminal or drive it; as curl does, they go to a terminal
 * only when asked (-o -).
 */
function terminalSafe(body: Uint8Array): boolean {
  try {
    return !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(UTF8.decode(body));
  } catch {
    return false;
  }
}

const LOSSY = Symbol('lossy');

/**
 * `text` parsed, or LOSSY when a number in it would not be written back as it stands: digits past a double's, past its
 * range, `-0`. A number written in another form of the same value (`1.0`, `1e2`) is counted lossy too: given as text,
 * nothing is lost either way. Throws when `text` is not one JSON value.
 */
function parsedAsWritten(text: string): unknown {
  let lossy = false;
  // Node's JSON.parse hands a reviver each primitive's source text (the TC39 "source text access" proposal).
  const value: unknown = JSON.parse(text.replace(/^\uFEFF/, ''), (_key, member: unknown, context?: { source?: string }) => {
    if (typeof member === 'number' && context?.source !== undefined && JSON.stringify(member) !== context.source) lossy = true;
    return member;
  });
  return lossy ? LOSSY : value;
}

/**
 * A result as JSON a script can take back intact: a JSON body parsed, text as text, and any other bytes (an image, a
 * zip) in base64, which text would have turned into replacement characters. A body typed JSON that is not one JSON
 * text (JSON lines, `application/json-seq`, nothing), or that a parse would change (a number with more digits than a
 * double keeps, such as a 20-digit id, or past its range), is text too.
 */
function resultJson(result: OperationResult): { content_type: string; body: unknown } | { content_type: string; body_base64: string } {
  if (/[/+]json\b/i.test(result.contentType)) {
    try {
      // Fatal: a body with bytes that are not UTF-8 parsed with U+FFFD in their place would not be the body sent.
      // One leading byte-order mark is no part of the JSON text (RFC 8259 §8.1); parsedAsWritten reads past it.
      const body = parsedAsWritten(UTF8.decode(result.body));
      if (body !== LOSSY) return { content_type: result.contentType, body };
    } catch {
      // Not one JSON text: as text, or base64, below.
    }
  }
  try {
    return { content_type: result.contentType, body: UTF8.decode(result.body) };
  } catch {
    return { content_type: result.contentType, body_base64: Buffer.from(result.body).toString('base64') };
  }
}

export function registerResult(program: Command, ctx: CliContext): void {
  program
    .command('result')
    .description('fetch the result of a completed operation (to stdout, or -o FILE)')
    .argument('<id>', 'operation id', idArg)
    .option('-o, --output <file>', 'write the result to FILE instead of stdout')
    .option('--json', 'print { content_type, body } as JSON: body parsed when it is JSON, text when it is UTF-8, else body_base64')
    .action(async (id: string, opts: { output?: string; json?: boolean }, command: Command) => {
      const result = await ctx.client(command).result(id);
      if (opts.json) {
        // -o FILE takes the JSON form, as stdout would have.
        const text = `${JSON.stringify(resultJson(result), null, 2)}\n`;
        await saveResult(ctx, { contentType: 'application/json', body: new TextEncoder().encode(text) }, opts.output ?? '-');
      } else {
        if (opts.output === undefined && ctx.io.stdout.isTTY === true && !terminalSafe(result.body)) {
          throw new UsageError(
            `the result is not text a terminal shows as it is (${result.contentType}, ${result.body.length} bytes): save it with -o FILE, or send it to the terminal with -o -`,
          );
        }
        await saveResult(ctx, result, opts.output ?? '-');
      }
    });
}
