// The wait's progress bar on a terminal, without a server: each line it draws fits the terminal's columns as they are
// shown, wide characters (CJK, emoji) counted as the two columns they take, so a redraw never wraps onto a new row.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import stringWidth from 'string-width';
import type { Operation } from '../../src/client/index.ts';
import { createProgressView } from '../../src/cli/progress.ts';

/** What a bar drew on a terminal of `columns`, cut into the text between its control sequences. */
async function drawn(columns: number, message: string): Promise<string[]> {
  const terminal = Object.assign(new PassThrough(), { isTTY: true, columns });
  let written = '';
  terminal.on('data', (chunk: Buffer) => (written += chunk.toString('utf8')));
  const view = createProgressView(terminal as unknown as NodeJS.WriteStream);
  const op = {
    status: 'processing',
    progress: 0.4,
    progress_message: message,
    attempt: 1,
    max_attempts: 1,
    queue_position: null,
    estimated_seconds_remaining: 5,
  };
  view.update(op as unknown as Operation);
  view.finish();
  await new Promise((resolve) => setImmediate(resolve));
  assert.doesNotMatch(written, /\u001b\[\?7l/, "the terminal's own wrapping is left on");
  return written.split(/\u001b\[[0-9;?]*[A-Za-z]|\u001b[78]|\r|\n/).filter((text) => text !== '');
}

describe('the progress bar', () => {
  it('draws each line within the terminal, a message of wide characters cut by the columns it takes', async () => {
    for (const columns of [80, 50]) {
      const lines = await drawn(columns, '日本語のメッセージです日本語のメッセージです😀😀');
      assert.ok(lines.length > 0);
      for (const line of lines) assert.ok(stringWidth(line) <= columns, `${stringWidth(line)} columns of ${columns}: ${line}`);
    }
    const [line] = await drawn(120, '日本語のメッセージです日本語のメッセージです');
    assert.match(line!, /\| 日本語のメッセージです…$/, 'the message within its 24 columns, cut with an ellipsis');
    // Flags, emoji sequences and accented letters are kept or cut whole: no half of one (U+FFFD, a dangling joiner).
    for (const message of ['🇯🇵🇺🇸🇫🇷🇩🇪🇯🇵🇺🇸🇫🇷🇩🇪🇯🇵🇺🇸🇫🇷🇩🇪🇯🇵🇺🇸', 'e\u0301'.repeat(30), '👨‍👩‍👧‍👦'.repeat(10)]) {
      for (const columns of [80, 60]) {
        for (const drawnLine of await drawn(columns, message)) {
          assert.doesNotMatch(drawnLine, /\uFFFD|\u200D$|[\uD800-\uDBFF]$/, `${columns} columns: ${drawnLine}`);
          assert.ok(stringWidth(drawnLine) <= columns);
        }
      }
    }
  });
});
