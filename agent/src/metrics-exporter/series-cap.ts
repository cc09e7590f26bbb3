/**
 * Cardinality cap of the store-backed families. One cap covers a group of families that share
 * their labels (requests, responses, errors and durations of an endpoint), so an endpoint's
 * error counter is never exposed while its response counter is folded away: ratios between
 * them stay right.
 *
 * Label sets beyond the cap are not dropped but folded into one overflow label set (service and
 * endpoint, or client and server, become `other`; host, protocol and tap side are kept, since
 * tap sides must never be added together). Sums over a family therefore still equal the store's
 * totals, and the number of folded label sets is exported.
 *
 * Admission is sticky: a label set admitted once keeps its place as long as the store holds it,
 * so its counters keep increasing instead of moving in and out of the overflow series as the
 * ranking changes. New label sets take free places busiest first (rows arrive ordered so).
 */
import { addHistogram, emptyHistogram, Log2Histogram } from './log2-histogram';

/** One label set of a group with its counters and its histogram, summed over the store. */
export interface GroupedRow<L extends string, C extends string> {
  labels: Record<L, string>;
  counts: Record<C, number>;
  histogram: Log2Histogram;
}

export interface CappedRows<L extends string, C extends string> {
  rows: GroupedRow<L, C>[];
  /** Label sets folded into overflow label sets. */
  folded: number;
}

export const DEFAULT_MAX_SERIES = 1000;

export class SeriesCap {
  private readonly admitted = new Set<string>();

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`the series cap must be a positive integer, not ${limit}`);
  }

  /** Rows to expose: the admitted ones, then the overflow rows. `rows` come busiest first. */
  apply<L extends string, C extends string>(rows: GroupedRow<L, C>[], overflowLabels: (labels: Record<L, string>) => Record<L, string>): CappedRows<L, C> {
    this.forgetAbsent(rows);
    const out = new Map<string, GroupedRow<L, C>>();
    const overflow: GroupedRow<L, C>[] = [];
    for (const row of rows) {
      const key = labelKey(row.labels);
      if (this.admit(key)) out.set(key, row);
      else overflow.push(row);
    }
    for (const row of overflow) {
      const labels = overflowLabels(row.labels);
      const key = labelKey(labels);
      // An overflow label set can only meet a real one of the same name (a service called
      // `other`): merged, so no label set appears twice.
      const into = out.get(key) ?? newRow(labels, row.counts);
      out.set(key, into);
      addRow(into, row);
    }
    return { rows: [...out.values()], folded: overflow.length };
  }

  /** A label set the store no longer holds (expired by TTL) frees its place. */
  private forgetAbsent(rows: GroupedRow<string, string>[]): void {
    const present = new Set(rows.map((r) => labelKey(r.labels)));
    for (const key of this.admitted) if (!present.has(key)) this.admitted.delete(key);
  }

  private admit(key: string): boolean {
    if (this.admitted.has(key)) return true;
    if (this.admitted.size >= this.limit) return false;
    this.admitted.add(key);
    return true;
  }
}

function labelKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function newRow<L extends string, C extends string>(labels: Record<L, string>, like: Record<C, number>): GroupedRow<L, C> {
  const counts = Object.fromEntries(Object.keys(like).map((k) => [k, 0])) as Record<C, number>;
  return { labels, counts, histogram: emptyHistogram() };
}

function addRow<L extends string, C extends string>(into: GroupedRow<L, C>, from: GroupedRow<L, C>): void {
  for (const k of Object.keys(from.counts) as C[]) into.counts[k] = (into.counts[k] ?? 0) + from.counts[k];
  addHistogram(into.histogram, from.histogram);
}
