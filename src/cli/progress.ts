// Owns: showing a waiting operation's progress — a live cli-progress bar on a TTY, one plain line per change otherwise.
// Not here: fetching snapshots (the SDK's wait) or choosing the exit status (exit-codes.ts).
// Invariant: non-TTY output has no control characters; the bar is always stopped, so the cursor is restored.

import cliProgress from 'cli-progress';
import stringWidth from 'string-width';
import { isTerminalStatus, type Operation } from '../client/index.ts';
import { describeOperation, formatSeconds, sanitize } from './format.ts';

export interface ProgressView {
  update(operation: Operation): void;
  /** Ends the display (stops the bar); call once, whatever the outcome. */
  finish(): void;
}

export function createProgressView(stream: NodeJS.WriteStream, now: () => number = Date.now): ProgressView {
  return stream.isTTY ? new BarView(stream) : new LineView(stream, now);
}

const MESSAGE_WIDTH = 24;

class BarView implements ProgressView {
  #bar: cliProgress.SingleBar;
  #started = false;

  constructor(stream: NodeJS.WriteStream) {
    this.#bar = new cliProgress.SingleBar(
      {
        stream,
        // The figures first, the free-text message last: on an 80-column terminal a trim cuts only the message.
        format: (options, params, payload) => fittedTo(cliProgress.Format.Formatter({ ...options, format: BAR_FORMAT }, params, payload), params.maxWidth),
        barsize: 20,
        hideCursor: true,
        // The line is fitted to the terminal here (fittedTo), so cli-progress's own cut, by UTF-16 code units, never
        // comes to split a flag, an emoji or an accented letter (U+FFFD); `false` would turn the terminal's wrapping
        // off, and a wait killed by a signal the CLI does not handle left the user's shell so.
        linewrap: true,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  update(op: Operation): void {
    const value = op.status === 'completed' ? 100 : Math.round((op.progress ?? 0) * 100);
    const payload = { status: op.status.padEnd(10), message: barMessage(op), eta_server: etaText(op) };
    if (this.#started) {
      this.#bar.update(value, payload);
    } else {
      this.#bar.start(100, value, payload);
      this.#started = true;
    }
  }

  finish(): void {
    if (this.#started) this.#bar.stop();
  }
}

class LineView implements ProgressView {
  #stream: NodeJS.WriteStream;
  #now: () => number;
  #startedAt: number;
  #lastKey: string | null = null;

  constructor(stream: NodeJS.WriteStream, now: () => number) {
    this.#stream = stream;
    this.#now = now;
    this.#startedAt = now();
  }

  update(op: Operation): void {
    // A change is what the handler or the queue did; the ETA alone moving every poll is not one.
    const key = [op.status, op.progress === null ? '' : Math.round(op.progress * 100), op.progress_message, op.attempt, op.queue_position].join('|');
    if (key === this.#lastKey) return;
    this.#lastKey = key;
    const elapsed = formatSeconds((this.#now() - this.#startedAt) / 1000);
    this.#stream.write(`[${elapsed}] ${describeOperation(op)}\n`);
  }

  finish(): void {}
}

const BAR_FORMAT = '{status} [{bar}] {percentage}% | ETA {eta_server} | elapsed {duration_formatted} | {message}';

/**
 * The bar's line cut to the terminal's columns as they are shown: cli-progress cuts by UTF-16 code units, and a line of
 * wide characters (CJK, emoji) then wrapped, each redraw landing on the wrapped row and the lines piling up.
 */
function fittedTo(line: string, columns: number): string {
  let fitted = '';
  let width = 0;
  // By what a reader sees as one character: a flag, an emoji sequence, a letter with its accents is kept or cut whole;
  // within the columns it takes and within as many UTF-16 code units (what cli-progress cuts by after this).
  for (const { segment } of GRAPHEMES.segment(line)) {
    width += stringWidth(segment);
    if (width > columns || fitted.length + segment.length > columns) break;
    fitted += segment;
  }
  return fitted;
}

const GRAPHEMES = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** At most MESSAGE_WIDTH columns of the message, as shown: a wide character takes two. */
function shownWithin(message: string, columns: number): string {
  const whole = fittedTo(message, columns);
  return whole === message ? message : `${fittedTo(message, columns - 1)}…`;
}

function barMessage(op: Operation): string {
  let message = op.progress_message ?? '';
  if (!message && op.status === 'pending') message = op.queue_position === null ? 'queued' : `queued #${op.queue_position}`;
  if (op.attempt > 1) message = `${message} (attempt ${op.attempt}/${op.max_attempts})`.trim();
  message = sanitize(message);
  return shownWithin(message, MESSAGE_WIDTH);
}

function etaText(op: Operation): string {
  if (isTerminalStatus(op.status)) return '0s';
  return formatSeconds(op.estimated_seconds_remaining);
}
