// Owns: the built-in `report` task's contract: its input schema, the checks on submit, its cost, limits and route.
// Not here: the computation (report-compute.ts), which runs on a worker thread per attempt (runtime/worker-thread.ts).
// Invariant: the server's event loop does none of the report's work (validate and cost only read the range).

import { Type, type Static } from '@sinclair/typebox';
import { defineTask } from '../runtime/task.ts';
import { inWorkerThread } from '../runtime/worker-thread.ts';
import { MAX_REPORT_DAYS, readDateRange, REPORT_TYPES } from './report-compute.ts';

const DATE = '\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])';
// Beside this file: .ts when run from source, .js in the built package (as runtime/worker-thread.ts finds its entry).
const COMPUTE = new URL(`./report-compute${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

export const ReportInput = Type.Object(
  {
    type: Type.Union(
      REPORT_TYPES.map((t) => Type.Literal(t)),
      { description: 'Which report to build' },
    ),
    date_range: Type.String({
      pattern: `^${DATE}\\.\\.${DATE}$`,
      description: `START..END, inclusive, at most ${MAX_REPORT_DAYS} days`,
      examples: ['2026-01-01..2026-06-28'],
    }),
    format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')], { default: 'json' })),
  },
  { additionalProperties: false },
);
export type ReportInput = Static<typeof ReportInput>;

export default defineTask<ReportInput>({
  type: 'report',
  route: '/reports',
  description: 'Sales report over a date range, aggregated by day, region and product (JSON or CSV).',
  input: ReportInput,
  // The schema checks the shape of date_range; whether its days exist and are in order is checked here, on submit.
  validate(input) {
    const range = readDateRange(input.date_range);
    return 'problem' in range ? [{ path: '/date_range', message: range.problem }] : [];
  },
  timeoutS: 300,
  maxAttempts: 3,
  concurrency: 2,
  // About what the default half-year run takes on one core (bench/README.md).
  estimatedDurationS: 3,
  // Its work follows the days in its range (a day's sales are generated and aggregated in turn): the ETA learns the time
  // per day, so a one-day report and a full year are each estimated as what they are.
  cost(input) {
    const range = readDateRange(input.date_range);
    return 'problem' in range ? Number.NaN : range.last - range.first + 1;
  },
  // A thread per attempt: two reports at once compute on two cores, not in turns on the event loop, and status polls,
  // claims and heartbeats never wait behind them; an abort (cancel, timeout, shutdown) terminates the thread.
  run: inWorkerThread<ReportInput>(COMPUTE, 'runReport'),
});
