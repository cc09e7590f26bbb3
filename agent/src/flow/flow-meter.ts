import { NETWORK_METRICS, NM } from '../aggregate/network-metrics';

/**
 * Layout of the per-flow meter that feeds the flow log: the network metrics up to the delays
 * (flow counts excluded). Byte counters and delay sums can pass 2^32 within a minute, so they are
 * kept as Float64; packet counters, sample counts and delay maxima fit in Uint32. The split saves
 * about 120 bytes per flow, which matters with a million flows open.
 */
const METERED = NETWORK_METRICS.slice(0, NM.cit_max + 1)
  .map((m, index) => ({ name: m.name, index }))
  .filter((m) => !['new_flow', 'closed_flow', 'flow_load'].includes(m.name));

const isWide = (name: string): boolean => name.includes('byte') || name.endsWith('_sum');

export const METER_WIDE = METERED.filter((m) => isWide(m.name)).map((m) => m.index);
export const METER_NARROW = METERED.filter((m) => !isWide(m.name)).map((m) => m.index);
export const METER_WIDE_WIDTH = METER_WIDE.length;
export const METER_NARROW_WIDTH = METER_NARROW.length;

/** Metric index → offset in the wide (Float64) or narrow (Uint32) part, -1 when elsewhere. */
export const WIDE_AT = new Int16Array(NETWORK_METRICS.length).fill(-1);
export const NARROW_AT = new Int16Array(NETWORK_METRICS.length).fill(-1);
METER_WIDE.forEach((metric, i) => (WIDE_AT[metric] = i));
METER_NARROW.forEach((metric, i) => (NARROW_AT[metric] = i));

/** Metric indexes the flow log stores. */
export const METERED_METRICS: readonly number[] = METERED.map((m) => m.index);
