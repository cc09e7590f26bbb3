import { CapturedPacket, LinkType } from '../capture/captured-packet';
import { DecodedPacket } from '../decode/decoded-packet';
import { PacketDecoder } from '../decode/packet-decoder';
import { FlowTracker, FlowTrackerOptions } from '../flow/flow-tracker';
import { RowCollector } from '../store/row-collector';
import { ethernet, ipv4, ipv6, tcpFlags, tcpSegment } from './packet-builder';

export interface SegmentOptions {
  /** Microseconds after the previous packet of the conversation. */
  dt?: number;
  payload?: string | Buffer;
  /** Explicit sequence number (retransmissions, gaps); otherwise the side's next one. */
  seq?: number;
  ack?: number;
  window?: number;
  windowScale?: number;
}

/**
 * A TCP conversation written packet by packet, with each side's sequence numbers kept
 * automatically, turned into Ethernet frames for the decoder.
 */
export class Conversation {
  readonly frames: { tsUs: number; data: Buffer }[] = [];
  private next: [number, number];
  constructor(
    private readonly client: [string, number],
    private readonly server: [string, number],
    public tsUs = 1_700_000_000_000_000,
    isn: [number, number] = [1000, 5000],
  ) {
    this.next = [...isn];
  }

  c(flags: string, o: SegmentOptions = {}): this {
    return this.send(0, flags, o);
  }

  s(flags: string, o: SegmentOptions = {}): this {
    return this.send(1, flags, o);
  }

  /** Client SYN, server SYN-ACK, client ACK, `dt` µs apart. */
  handshake(dt = 100): this {
    return this.c('S').s('SA', { dt }).c('A', { dt });
  }

  private send(side: 0 | 1, flags: string, o: SegmentOptions): this {
    this.tsUs += o.dt ?? 0;
    const [src, dst] = side === 0 ? [this.client, this.server] : [this.server, this.client];
    const payload = typeof o.payload === 'string' ? Buffer.from(o.payload) : (o.payload ?? Buffer.alloc(0));
    const seq = o.seq ?? this.next[side];
    const bits = tcpFlags(flags);
    const ack = o.ack ?? (bits & 0x10 ? this.next[1 - side] : 0);
    const seg = tcpSegment({ src: src[0], dst: dst[0], sport: src[1], dport: dst[1], flags, seq, ack, window: o.window, windowScale: o.windowScale, payload });
    const ip = src[0].includes(':') ? ipv6(src[0], dst[0], 6, seg) : ipv4(src[0], dst[0], 6, seg);
    this.frames.push({ tsUs: this.tsUs, data: ethernet(ip) });
    const end = (seq + payload.length + (bits & 0x02 ? 1 : 0) + (bits & 0x01 ? 1 : 0)) >>> 0;
    if (((end - this.next[side]) | 0) > 0) this.next[side] = end;
    return this;
  }
}

export type Row = Record<string, unknown>;

/**
 * Runs frames (sorted by time) through decoder and tracker into a collector, as replay would;
 * `finish: false` leaves the flows open, as at a moment mid-capture.
 */
export function trackInto(
  frames: { tsUs: number; data: Buffer }[],
  options: Partial<FlowTrackerOptions> = {},
  finish = true,
): { sink: RowCollector; tracker: FlowTracker } {
  const sink = new RowCollector();
  const tracker = new FlowTracker(sink, { host: 'test', runId: 0, ...options });
  const decoder = new PacketDecoder();
  const decoded = new DecodedPacket();
  for (const f of [...frames].sort((a, b) => a.tsUs - b.tsUs)) {
    const pkt: CapturedPacket = { tsUs: f.tsUs, linkType: LinkType.ETHERNET, interfaceId: 0, capLen: f.data.length, origLen: f.data.length, data: f.data };
    if (decoder.decode(pkt, decoded)) tracker.process(decoded);
  }
  if (finish) tracker.finish();
  return { sink, tracker };
}

/** Runs frames (sorted by time) through decoder and tracker; returns the rows per table. */
export function track(
  frames: { tsUs: number; data: Buffer }[],
  options: Partial<FlowTrackerOptions> = {},
): { rows: Record<string, Row[]>; tracker: FlowTracker } {
  const { sink, tracker } = trackInto(frames, options);
  const rows: Record<string, Row[]> = {};
  for (const table of sink.tableNames()) rows[table] = sink.rows<Row>(table);
  return { rows, tracker };
}

export function sum(rows: Row[] | undefined, column: string): number {
  return (rows ?? []).reduce((n, r) => n + Number(r[column] ?? 0), 0);
}
