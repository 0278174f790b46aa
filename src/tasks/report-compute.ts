// Owns: the built-in report's computation: the generated sales data set (seeded per day), its aggregation into totals by
// day, region and product, the CSV rendering, the date range rules, and `runReport`, the handler report.ts runs on a
// worker thread per attempt. Not here: the task's contract (report.ts), starting or stopping the thread (runtime/).
// Invariant: the same input gives the same bytes. It computes without yielding: it runs on its own thread, which an
// abort terminates, so it must not be called on the server's event loop.

import { PermanentError } from '../domain/errors.ts';
import type { IsolatedTaskContext } from '../runtime/worker-thread.ts';
import type { TaskResult } from '../runtime/task.ts';
import type { ReportInput } from './report.ts';

export const REPORT_TYPES = ['sales_summary', 'sales_by_region', 'top_products'] as const;
export type ReportType = (typeof REPORT_TYPES)[number];

export const MAX_REPORT_DAYS = 366;
/** Sales generated for an average day; tuned so the default half-year run is a few seconds of work. */
const SALES_PER_DAY = 300_000;
const TOP_PRODUCTS = 10;
const CURRENCY = 'EUR';
const DAY_MS = 24 * 3600 * 1000;

export const REGIONS = ['north', 'south', 'east', 'west', 'central'] as const;
// Relative share of sales per region, in the order of REGIONS.
const REGION_WEIGHTS = [0.26, 0.18, 0.21, 0.23, 0.12];

/** The catalogue: id, name and list price in cents. */
export const PRODUCTS: ReadonlyArray<{ readonly id: string; readonly name: string; readonly priceCents: number }> = [
  { id: 'P-100', name: 'Espresso beans 1 kg', priceCents: 2_490 },
  { id: 'P-101', name: 'Filter coffee 500 g', priceCents: 1_190 },
  { id: 'P-102', name: 'Green tea 100 bags', priceCents: 890 },
  { id: 'P-103', name: 'Ceramic mug', priceCents: 1_450 },
  { id: 'P-104', name: 'Pour-over kettle', priceCents: 4_990 },
  { id: 'P-105', name: 'Burr grinder', priceCents: 12_900 },
  { id: 'P-106', name: 'Milk frother', priceCents: 3_490 },
  { id: 'P-107', name: 'Paper filters 200', priceCents: 590 },
  { id: 'P-108', name: 'Travel tumbler', priceCents: 2_290 },
  { id: 'P-109', name: 'Espresso machine', priceCents: 54_900 },
  { id: 'P-110', name: 'Descaler', priceCents: 990 },
  { id: 'P-111', name: 'Cold brew jar', priceCents: 2_790 },
];

interface Sums {
  orders: number;
  units: number;
  revenueCents: number;
}

export interface ReportLine {
  readonly orders: number;
  readonly units: number;
  /** In currency units, rounded to cents. */
  readonly revenue: number;
}

export interface SalesReport {
  readonly report_type: ReportType;
  readonly date_range: string;
  readonly currency: string;
  readonly totals: ReportLine;
  readonly by_day: ReadonlyArray<ReportLine & { readonly date: string }>;
  readonly by_region: ReadonlyArray<ReportLine & { readonly region: string }>;
  readonly by_product: ReadonlyArray<ReportLine & { readonly product_id: string; readonly name: string }>;
}

/** The first and last day (epoch days) of `START..END`; refuses impossible dates, END before START and long spans. */
export function parseDateRange(range: string): { readonly first: number; readonly last: number } {
  const days = readDateRange(range);
  // validate() refuses these on submit; this guards operations stored without it (an older version, a direct store write).
  if ('problem' in days) throw new PermanentError(days.problem, 'invalid_input');
  return days;
}

/** The first and last day of `START..END`, or why it cannot be: report.ts's `validate` and `cost` read it on submit. */
export function readDateRange(range: string): { readonly first: number; readonly last: number } | { readonly problem: string } {
  const [start = '', end = ''] = range.split('..');
  const first = epochDay(start);
  const last = epochDay(end);
  if (first === null || last === null) return { problem: `date_range "${range}" names a day that does not exist` };
  if (last < first) return { problem: `date_range "${range}" ends before it starts` };
  if (last - first + 1 > MAX_REPORT_DAYS) return { problem: `date_range "${range}" spans more than ${MAX_REPORT_DAYS} days` };
  return { first, last };
}

/** The report's handler, run on a worker thread (report.ts): the report as JSON, or rendered as CSV. */
export function runReport(input: ReportInput, ctx: IsolatedTaskContext): TaskResult {
  const report = buildReport(input, ctx.progress);
  return input.format === 'csv' ? { contentType: 'text/csv; charset=utf-8', body: toCsv(report) } : report;
}

/** Generates and aggregates the range day by day, reporting progress after each; seconds of work for a half year. */
function buildReport(input: Pick<ReportInput, 'type' | 'date_range'>, progress: IsolatedTaskContext['progress']): SalesReport {
  const { first, last } = parseDateRange(input.date_range);
  const days = last - first + 1;
  const total = zero();
  const byRegion = REGIONS.map(() => zero());
  const byProduct = PRODUCTS.map(() => zero());
  const byDay: Array<ReportLine & { date: string }> = [];
  progress(0, 'generating sales');
  for (let day = first; day <= last; day++) {
    const random = mulberry32(Math.imul(day, 0x9e3779b1) ^ 0x5eed);
    const sums = zero();
    addSales(salesOn(day, random), random, sums, byRegion, byProduct);
    add(total, sums);
    byDay.push({ date: isoDate(day), ...line(sums) });
    progress((day - first + 1) / days, `aggregated ${isoDate(day)}`);
  }
  const regions = REGIONS.map((region, i) => ({ region, ...line(byRegion[i] ?? zero()) }));
  const products = PRODUCTS.map((p, i) => ({ product_id: p.id, name: p.name, ...line(byProduct[i] ?? zero()) }));
  const byRevenue = (a: ReportLine, b: ReportLine): number => b.revenue - a.revenue;
  return {
    report_type: input.type,
    date_range: input.date_range,
    currency: CURRENCY,
    totals: line(total),
    by_day: byDay,
    by_region: input.type === 'sales_by_region' ? regions.sort(byRevenue) : regions,
    by_product: input.type === 'top_products' ? products.sort(byRevenue).slice(0, TOP_PRODUCTS) : products,
  };
}

/** How many sales a day has: more at weekends, and a seeded day-to-day swing. */
function salesOn(day: number, random: () => number): number {
  const weekend = (((day + 3) % 7) + 7) % 7 >= 5; // day 0, 1970-01-01, was a Thursday
  return Math.floor(SALES_PER_DAY * (weekend ? 1.3 : 0.9) * (0.85 + 0.3 * random()));
}

/** Generates `n` sales from the day's PRNG and adds them to the day's, region and product sums. */
function addSales(n: number, random: () => number, sums: Sums, byRegion: Sums[], byProduct: Sums[]): void {
  for (let i = 0; i < n; i++) {
    const region = pickRegion(random());
    const productIndex = Math.floor(random() * PRODUCTS.length);
    const product = PRODUCTS[productIndex];
    if (product === undefined) continue;
    const units = 1 + Math.floor(random() * random() * 6);
    // Discounts of 0-20 % in whole percent, rounded to a whole cent per sale.
    const discountPercent = Math.floor(random() * 21);
    const revenueCents = Math.round((units * product.priceCents * (100 - discountPercent)) / 100);
    count(sums, units, revenueCents);
    count(byRegion[region], units, revenueCents);
    count(byProduct[productIndex], units, revenueCents);
  }
}

function pickRegion(r: number): number {
  let acc = 0;
  for (let i = 0; i < REGION_WEIGHTS.length; i++) {
    acc += REGION_WEIGHTS[i] ?? 0;
    if (r < acc) return i;
  }
  return REGION_WEIGHTS.length - 1;
}

/** A small, fast, seedable 32-bit PRNG (Tommy Ettinger's mulberry32); returns [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One CSV table: `dimension,key,name,orders,units,revenue`, rows for the total, each day, region and product. */
function toCsv(report: SalesReport): string {
  const rows = [['dimension', 'key', 'name', 'orders', 'units', 'revenue']];
  const row = (dimension: string, key: string, name: string, l: ReportLine): void => {
    rows.push([dimension, key, name, String(l.orders), String(l.units), l.revenue.toFixed(2)]);
  };
  row('total', report.date_range, '', report.totals);
  for (const d of report.by_day) row('day', d.date, '', d);
  for (const r of report.by_region) row('region', r.region, '', r);
  for (const p of report.by_product) row('product', p.product_id, p.name, p);
  return `${rows.map((cells) => cells.map(csvCell).join(',')).join('\r\n')}\r\n`;
}

function csvCell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function epochDay(date: string): number | null {
  const ms = Date.parse(`${date}T00:00:00Z`);
  // Date.parse rolls 2026-02-30 over to March; a round trip catches it.
  if (Number.isNaN(ms) || isoDate(ms / DAY_MS) !== date) return null;
  return ms / DAY_MS;
}

function isoDate(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

function zero(): Sums {
  return { orders: 0, units: 0, revenueCents: 0 };
}

function add(into: Sums, from: Sums): void {
  into.orders += from.orders;
  into.units += from.units;
  into.revenueCents += from.revenueCents;
}

function count(into: Sums | undefined, units: number, revenueCents: number): void {
  if (into === undefined) return;
  into.orders += 1;
  into.units += units;
  into.revenueCents += revenueCents;
}

function line(sums: Sums): ReportLine {
  return { orders: sums.orders, units: sums.units, revenue: sums.revenueCents / 100 };
}
