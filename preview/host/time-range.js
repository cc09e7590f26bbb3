/** Time ranges as Grafana's time picker hands them to data sources and panels. */
import { dateTime } from '@grafana/data';

/** An absolute TimeRange between two instants (epoch ms). */
export function absoluteTimeRange(from, to) {
  return { from: dateTime(from), to: dateTime(to), raw: { from: dateTime(from), to: dateTime(to) } };
}
