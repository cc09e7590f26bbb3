import { HISTOGRAM_OFFSET, histogramBucket, NETWORK_METRICS, NM } from '../aggregate/network-metrics';
import { NetworkAggregator, putAddressString, RowSink } from '../aggregate/network-aggregator';
import { L7_PROTOCOL_NAMES } from '../aggregate/l7-protocols';
import { DecodedPacket, IpProto, TcpFlag } from '../decode/decoded-packet';
import { formatAddress } from '../util/ip-format';
import { FlowL7 } from '../l7/flow-l7';
import { L7ProtocolModule, ParserOptions } from '../l7/l7-parser';
import { addRedCounts, FlowContext, L7Output, RedOffsets, SideTags } from '../l7/l7-output';
import { ProtocolInference } from '../l7/protocol-inference';
import { CLOSE_TYPES, CloseType, closeStatus } from './close-type';
import { METER_NARROW_WIDTH, METER_WIDE_WIDTH, METERED_METRICS, NARROW_AT, WIDE_AT } from './flow-meter';
import { FlowTable, flowHash, HOLES_PER_DIRECTION, NO_INTERVAL, TIMEOUT_CLASS_COUNT, TimeoutClass } from './flow-table';
import { L4_FLOW_LOG } from '../store/tables';
import { ColumnKind } from '../store/native-block';
import { columnOp, encodeString, expectColumnType, MAX_ADDRESS_TEXT, putAddressText, putDecimalText, putU16, putU8 } from '../store/row-binary';
import { LocalAddresses, ObservationPoints, TAP_SIDES } from './tap-side';

export interface FlowTimeouts {
  /** SYN sent or answered, handshake not finished. */
  openingUs: number;
  establishedUs: number;
  /** One side sent FIN, the other has not. */
  halfClosedUs: number;
  /** Both FINs or a RST seen: kept briefly to absorb the last ACKs and retransmissions. */
  closingUs: number;
  udpUs: number;
}

export const DEFAULT_TIMEOUTS: FlowTimeouts = {
  // Covers a client's SYN retries (1, 2, 4, 8, 16 s apart on Linux) so they stay one flow.
  openingUs: 35_000_000,
  establishedUs: 300_000_000,
  halfClosedUs: 35_000_000,
  // Late FIN/ACK retransmissions after a close still belong to the closed flow.
  closingUs: 15_000_000,
  udpUs: 150_000_000,
};

/** Ports that mark a server when only one end of a flow uses one (besides all ports below 1024). */
export const DEFAULT_SERVER_PORTS = [
  1433, 1521, 1883, 2181, 2379, 3000, 3306, 4317, 4318, 5000, 5432, 5672, 6379, 6443, 8000, 8080, 8081, 8443, 8883, 8888, 9000, 9042,
  9090, 9092, 9200, 9300, 10250, 11211, 15672, 20880, 26379, 27017,
];

export interface FlowTrackerOptions {
  host: string;
  maxFlows?: number;
  timeouts?: Partial<FlowTimeouts>;
  localAddresses?: LocalAddresses;
  /** Live capture: tap_side by interface role (node, hypervisor, gateway ports). */
  observationPoints?: ObservationPoints;
  /**
   * Live capture: the process listening on a flow's server address when it is on this host, so
   * request logs and RED rows of packet data carry process and service tags too.
   */
  serverTags?: (transport: 'tcp' | 'udp', ip: string, port: number) => SideTags | undefined;
  serverPorts?: readonly number[];
  /** High part of flow ids, so ids from different runs and agents do not collide. */
  runId?: number;
  /**
   * Called with each segment's TCP analysis verdict, for tests and debugging that compare verdicts
   * packet by packet with another analyser.
   */
  onSegmentVerdict?: (verdict: SegmentVerdict) => void;
  /** Application protocols to recognise and parse; without it only L4 is analysed. */
  l7?: {
    modules: readonly L7ProtocolModule[];
    parser?: ParserOptions;
    /** A request without a response for this long is a timeout (SPEC §3: TCP 300 s, UDP 150 s). */
    requestTimeoutUs?: { tcp: number; udp: number };
  };
}

export type SegmentVerdict = 'retransmission' | 'out_of_order' | 'keep_alive' | 'zero_window' | 'syn_retransmission' | 'synack_retransmission';

/** Direction confidence (SPEC §1, `direction_score`). */
export const DirectionScore = { certain: 255, l7: 200, serverPort: 150, popularity: 100, lowerPort: 50, guess: 0 } as const;

const enum Bit {
  Established = 1 << 0,
  FinByClient = 1 << 1,
  FinByServer = 1 << 2,
  RstSeen = 1 << 3,
  RstByServer = 1 << 4,
  QueueLack = 1 << 5,
  AwaitingResponse = 1 << 6,
  SeqInitClient = 1 << 7,
  SeqInitServer = 1 << 8,
  MidStream = 1 << 9,
  HandshakeAck = 1 << 10,
  /** No more application parsing: inference gave up, or both sides finished (FIN). */
  L7Off = 1 << 11,
}

const enum SegmentKind {
  New,
  Retransmission,
  OutOfOrder,
  KeepAlive,
}

export interface FlowTrackerStats {
  flowsCreated: number;
  tcpFlows: number;
  udpFlows: number;
  /** Flows closed early because the table was full. */
  overflowEvictions: number;
  flowsOpen: number;
}

/**
 * The flow table's state machine: turns decoded TCP/UDP packets into per-flow TCP analysis
 * (handshake, retransmission, zero window, delays), network map rows per second and minute, and
 * flow log rows per minute and at close. Time is the capture's own clock, so a replay produces
 * the same rows however fast it runs.
 */
export class FlowTracker {
  readonly flows: FlowTable;
  readonly aggregator: NetworkAggregator;
  readonly stats: FlowTrackerStats = { flowsCreated: 0, tcpFlows: 0, udpFlows: 0, overflowEvictions: 0, flowsOpen: 0 };
  private readonly timeouts: FlowTimeouts;
  private readonly local: LocalAddresses;
  private readonly serverPorts: Set<number>;
  private readonly runIdHigh: number;
  /** The host as a RowBinary string, and the longest flow log row with it. */
  private readonly hostBytes: Buffer;
  /** Flows seen per endpoint (IPv4 endpoints keyed by a number, IPv6 ones by text). */
  private readonly endpointPopularity = new Map<number | string, number>();
  private readonly src = new Uint32Array(4);
  private readonly dst = new Uint32Array(4);
  /** Slots (and their flow ids) with flow log data in the current minute. */
  private minuteSlots: number[] = [];
  private minuteFlowIds: number[] = [];
  private nowUs = 0;
  private nextSecondUs = -1;
  private readonly inference: ProtocolInference | undefined;
  private readonly l7Out: L7Output | undefined;
  /** Application-layer state of the flows that carried payload, by slot (in creation order, for expiry). */
  private readonly l7Flows = new Map<number, FlowL7>();
  /**
   * The same, indexed by slot: what every packet looks up. A hash map's lookup reached two or
   * three scattered cache lines per packet with thousands of flows open; an array element one.
   */
  private readonly l7BySlot: (FlowL7 | undefined)[] = [];
  readonly l7Stats = { records: 0, flowsParsed: 0 };

  /** Flows whose application protocol is still being parsed. */
  get l7FlowsOpen(): number {
    return this.l7Flows.size;
  }

  /** Request records whose endpoint the per-service cap folded into `other`. */
  get l7EndpointsFolded(): number {
    return this.l7Out?.endpoints.folded ?? 0;
  }

  constructor(
    private readonly sink: RowSink,
    private readonly options: FlowTrackerOptions,
  ) {
    this.flows = new FlowTable(options.maxFlows ?? 1_000_000);
    this.aggregator = new NetworkAggregator(sink, options.host);
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.local = options.localAddresses ?? new LocalAddresses();
    this.serverPorts = new Set(options.serverPorts ?? DEFAULT_SERVER_PORTS);
    this.hostBytes = encodeString(options.host);
    if (options.l7) {
      this.inference = new ProtocolInference(options.l7.modules);
      this.l7Out = new L7Output(sink, options.host);
    }
    this.runIdHigh = (options.runId ?? Math.floor(Math.random() * 0x1fffff)) * 0x100000000;
  }

  process(p: DecodedPacket): void {
    let ts = p.tsUs;
    // Capture clocks can step back a little (several interfaces, reordering): time never does here.
    if (ts < this.nowUs) ts = this.nowUs;
    if (ts >= this.nextSecondUs) this.advance(ts);
    // The packet's time reaches the methods below through this field, not as an argument: a
    // capture time is beyond a small integer, and passing one to a method V8 does not inline
    // boxes it, one allocation per call.
    this.nowUs = ts;
    loadAddress(p, true, this.src);
    loadAddress(p, false, this.dst);
    const proto = p.ipProto;
    // Another observation point is another flow: its hash and key include the capture point.
    const hash = p.tapPort === 0 ? flowHash(this.src, p.srcPort, this.dst, p.dstPort, proto) : flowHash(this.src, p.srcPort, this.dst, p.dstPort, proto) ^ Math.imul(p.tapPort, 0x9e3779b1);
    const flows = this.flows;
    let slot = flows.find(hash, this.src, this.dst, p.srcPort, p.dstPort, proto, p.tapPort);
    const syn = (p.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN && proto === IpProto.TCP;
    if (slot >= 0 && syn && this.isNewConnection(slot, p)) {
      this.closeFlow(slot, flows.bits[slot] & (Bit.FinByClient | Bit.FinByServer | Bit.RstSeen) ? this.classify(slot) : CloseType.client_port_reuse);
      slot = -1;
    }
    let side = flows.foundSide;
    if (slot < 0) {
      slot = this.createFlow(hash, p);
      side = flows.sideOf(slot, this.src, p.srcPort, this.dst, p.dstPort);
    }
    flows.lastUs[slot] = ts;
    if (proto === IpProto.TCP) side = this.tcp(slot, side, p);
    const rowBase = this.aggregator.rowBase(flows, slot);
    this.countPacket(slot, side, rowBase, p);
    if (this.inference && !(flows.bits[slot] & Bit.L7Off) && (p.payloadEnd > p.payloadStart || p.tcpFlags & (TcpFlag.SYN | TcpFlag.FIN))) this.l7Packet(slot, side, p);
    this.noteMinute(slot);
    flows.touch(slot, this.timeoutClassOf(slot));
  }

  /** Ends the input: every open flow closes as if its timeout had passed, every row is emitted. */
  finish(): void {
    while (!this.finishSome(Infinity));
  }

  /**
   * Ends the input a slice at a time: closes up to `maxFlows` flows and returns true once none is
   * left and every row is emitted, so a caller can let the store drain between slices.
   */
  finishSome(maxFlows: number): boolean {
    let closed = 0;
    for (let c = 0; c < TIMEOUT_CLASS_COUNT && closed < maxFlows; c++) {
      while (this.flows.lruHead[c] >= 0 && closed < maxFlows) {
        this.closeFlow(this.flows.lruHead[c], this.classify(this.flows.lruHead[c]));
        closed++;
      }
    }
    if (this.flows.size > 0) return false;
    this.aggregator.flush();
    this.l7Out?.flush();
    this.minuteSlots = [];
    this.minuteFlowIds = [];
    return true;
  }

  /** Emits the rows of everything up to `nowUs` (live capture calls this on a timer). */
  tick(nowUs: number): void {
    if (nowUs >= this.nextSecondUs && this.nextSecondUs >= 0) this.advance(nowUs);
  }

  private advance(ts: number): void {
    const second = Math.floor(ts / 1_000_000);
    const minute = second - (second % 60);
    const newMinute = this.aggregator.currentMinute >= 0 && minute !== this.aggregator.currentMinute;
    if (newMinute) this.reportMinute();
    this.aggregator.beginSecond(second);
    this.l7Out?.beginSecond(second);
    this.nextSecondUs = (second + 1) * 1_000_000;
    if (newMinute) this.expireRequests(ts);
    this.expire(ts);
  }

  private expire(now: number): void {
    const t = this.timeouts;
    const limits = [t.openingUs, t.establishedUs, t.halfClosedUs, t.closingUs, t.udpUs];
    const flows = this.flows;
    for (let c = 0; c < limits.length; c++) {
      for (let slot = flows.lruHead[c]; slot >= 0 && flows.lastUs[slot] + limits[c] < now; slot = flows.lruHead[c]) {
        this.closeFlow(slot, this.classify(slot));
      }
    }
  }

  /** Minute boundary: flows still open report what they did in the minute (`forced_report`). */
  private reportMinute(): void {
    const flows = this.flows;
    const minute = this.aggregator.currentMinute;
    for (let i = 0; i < this.minuteSlots.length; i++) {
      const slot = this.minuteSlots[i];
      if (flows.serial[slot] !== this.minuteFlowIds[i] || flows.reportMinute[slot] !== minute) continue;
      this.emitFlowLog(slot, CloseType.forced_report, (minute + 60) * 1_000_000);
      flows.clearMeter(slot);
      flows.reportStartUs[slot] = (minute + 60) * 1_000_000;
      flows.reportMinute[slot] = NO_INTERVAL;
    }
    this.minuteSlots = [];
    this.minuteFlowIds = [];
  }

  private noteMinute(slot: number): void {
    const minute = this.aggregator.currentMinute;
    if (this.flows.reportMinute[slot] === minute) return;
    this.flows.reportMinute[slot] = minute;
    this.minuteSlots.push(slot);
    this.minuteFlowIds.push(this.flows.serial[slot]);
  }

  private createFlow(hash: number, p: DecodedPacket): number {
    const ts = this.nowUs;
    const flows = this.flows;
    if (flows.isFull) this.evictOldest();
    let clientIsSrc = true;
    let score: number = DirectionScore.guess;
    const tcp = p.ipProto === IpProto.TCP;
    if (tcp && p.tcpFlags & TcpFlag.SYN) {
      clientIsSrc = (p.tcpFlags & TcpFlag.ACK) === 0;
      score = DirectionScore.certain;
    } else {
      score = this.guessDirection(p);
      clientIsSrc = this.guessedClientIsSrc;
    }
    const slot = clientIsSrc
      ? flows.insert(hash, p.ipVersion, p.ipProto, this.src, p.srcPort, this.dst, p.dstPort, ts, p.tapPort)
      : flows.insert(hash, p.ipVersion, p.ipProto, this.dst, p.dstPort, this.src, p.srcPort, ts, p.tapPort);
    flows.directionScore[slot] = score;
    flows.vlan[slot] = p.vlanId < 0 ? 0 : p.vlanId;
    flows.tapSide[slot] = this.tapSideOf(slot, p, clientIsSrc);
    if (tcp && !(p.tcpFlags & TcpFlag.SYN)) flows.bits[slot] |= Bit.Established | Bit.MidStream;
    this.stats.flowsCreated++;
    if (tcp) this.stats.tcpFlows++;
    else this.stats.udpFlows++;
    const rowBase = this.aggregator.rowBase(flows, slot);
    this.aggregator.slab[rowBase + NM.new_flow]++;
    return slot;
  }

  /** Client/server without a handshake: server ports, then the busier endpoint, then the lower port. */
  /** The direction `guessDirection` decided (a field, not a returned pair: no array per new flow). */
  private guessedClientIsSrc = true;

  /** Decides the direction of a flow seen without its SYN into `guessedClientIsSrc`; returns how sure. */
  private guessDirection(p: DecodedPacket): number {
    const srcServer = p.srcPort < 1024 || this.serverPorts.has(p.srcPort);
    const dstServer = p.dstPort < 1024 || this.serverPorts.has(p.dstPort);
    if (dstServer !== srcServer) {
      this.guessedClientIsSrc = dstServer;
      return DirectionScore.serverPort;
    }
    const srcSeen = this.bumpPopularity(this.src, p.srcPort, p.ipVersion);
    const dstSeen = this.bumpPopularity(this.dst, p.dstPort, p.ipVersion);
    if (srcSeen !== dstSeen) {
      this.guessedClientIsSrc = dstSeen > srcSeen;
      return DirectionScore.popularity;
    }
    if (p.srcPort !== p.dstPort) {
      this.guessedClientIsSrc = p.dstPort < p.srcPort;
      return DirectionScore.lowerPort;
    }
    this.guessedClientIsSrc = true;
    return DirectionScore.guess;
  }

  private bumpPopularity(addr: Uint32Array, port: number, ipVersion: number): number {
    // An IPv4 endpoint fits a number exactly (48 bits): no key text per new flow.
    const key = ipVersion === 4 ? addr[3] * 65536 + port : `${addr[0]},${addr[1]},${addr[2]},${addr[3]}:${port}`;
    const n = (this.endpointPopularity.get(key) ?? 0) + 1;
    // Bounded: forget everything rather than grow without limit (it is only a tie-breaker).
    if (this.endpointPopularity.size >= 100_000) this.endpointPopularity.clear();
    this.endpointPopularity.set(key, n);
    return n - 1;
  }

  private evictOldest(): void {
    const flows = this.flows;
    let oldest = -1;
    for (let c = 0; c < TIMEOUT_CLASS_COUNT; c++) {
      const head = flows.lruHead[c];
      if (head >= 0 && (oldest < 0 || flows.lastUs[head] < flows.lastUs[oldest])) oldest = head;
    }
    if (oldest < 0) return;
    this.stats.overflowEvictions++;
    this.closeFlow(oldest, this.classify(oldest));
  }

  /** A SYN on a known tuple: a retransmission of the flow's SYN, or a new connection reusing it. */
  private isNewConnection(slot: number, p: DecodedPacket): boolean {
    const flows = this.flows;
    const bits = flows.bits[slot];
    if (flows.synCount[slot] > 0 && p.seq === flows.clientIsn[slot]) return false;
    if (bits & (Bit.FinByClient | Bit.FinByServer | Bit.RstSeen)) return true;
    if (bits & Bit.MidStream) return true;
    // A new ISN while the first handshake is still open is the client trying again, same flow.
    return (bits & Bit.HandshakeAck) !== 0;
  }

  /** TCP analysis of one segment; returns the sender's side (which a SYN or SYN-ACK may swap). */
  private tcp(slot: number, side: number, p: DecodedPacket): number {
    const flows = this.flows;
    const sinceStart = this.nowUs - flows.startUs[slot];
    const flags = p.tcpFlags;
    const syn = (flags & TcpFlag.SYN) !== 0;
    const ack = (flags & TcpFlag.ACK) !== 0;
    const agg = this.aggregator;
    let row = agg.rowBase(flows, slot);
    if (syn) {
      const isSynAck = ack;
      // SYN comes from the client, SYN-ACK from the server: that settles the direction for good.
      if ((side === 1) !== isSynAck && flows.directionScore[slot] < DirectionScore.certain) {
        flows.swapSides(slot);
        side = 1 - side;
        flows.tapSide[slot] = this.tapSideOf(slot, p, side === 0);
        row = agg.rowBase(flows, slot);
      }
      flows.directionScore[slot] = DirectionScore.certain;
      const s = slot * 2 + side;
      if (p.windowScale >= 0) flows.windowScale[s] = p.windowScale;
      if (!isSynAck) {
        this.add(slot, row, NM.syn_count, 1);
        if (flows.synCount[slot] > 0 && p.seq === flows.clientIsn[slot]) {
          this.add(slot, row, NM.retrans_syn, 1);
          this.options.onSegmentVerdict?.('syn_retransmission');
        }
        if (flows.firstSynMark[slot] === 0) flows.setMark(flows.firstSynMark, slot, sinceStart);
        flows.setMark(flows.lastSynMark, slot, sinceStart);
        flows.clientIsn[slot] = p.seq;
        if (flows.synCount[slot] < 255) flows.synCount[slot]++;
      } else {
        this.add(slot, row, NM.synack_count, 1);
        if (flows.bits[slot] & Bit.HandshakeAck) {
          // The client completed the handshake but the server repeats its SYN-ACK: the final ACK
          // was dropped, the classic sign of a full accept queue.
          flows.bits[slot] |= Bit.QueueLack;
          this.add(slot, row, NM.retrans_synack, 1);
          this.options.onSegmentVerdict?.('synack_retransmission');
        } else if (flows.synAckCount[slot] > 0 && p.seq === flows.serverIsn[slot]) {
          this.add(slot, row, NM.retrans_synack, 1);
          this.options.onSegmentVerdict?.('synack_retransmission');
        } else if (flows.synAckCount[slot] === 0 && flows.lastSynMark[slot] > 0) {
          this.delay(slot, row, NM.rtt_server_sum, flows.sinceMark(flows.lastSynMark, slot, sinceStart), -1);
        }
        // RTT legs start at the first SYN-ACK: a repeated one means the first went unanswered.
        if (flows.synAckCount[slot] === 0) flows.setMark(flows.firstSynAckMark, slot, sinceStart);
        flows.serverIsn[slot] = p.seq;
        if (flows.synAckCount[slot] < 255) flows.synAckCount[slot]++;
      }
      // A repeated SYN or SYN-ACK must not rewind what this side has already sent.
      const initBit = side === 0 ? Bit.SeqInitClient : Bit.SeqInitServer;
      const synEnd = (p.seq + 1 + p.l4PayloadLen) >>> 0;
      if (!(flows.bits[slot] & initBit) || ((synEnd - flows.seqEnd[s]) | 0) > 0) flows.seqEnd[s] = synEnd;
      flows.bits[slot] |= initBit;
    }
    const s = slot * 2 + side;
    flows.flagsSeen[s] |= flags;
    if (flags & TcpFlag.RST) {
      this.add(slot, row, NM.rst_count, 1);
      if (!(flows.bits[slot] & Bit.RstSeen)) flows.bits[slot] |= Bit.RstSeen | (side === 1 ? Bit.RstByServer : 0);
    }
    if (flags & TcpFlag.FIN) {
      this.add(slot, row, NM.fin_count, 1);
      flows.bits[slot] |= side === 0 ? Bit.FinByClient : Bit.FinByServer;
    }
    // The client's first ACK after the SYN-ACK completes the handshake.
    if (ack && !syn && side === 0 && flows.synAckCount[slot] > 0 && !(flows.bits[slot] & Bit.HandshakeAck)) {
      flows.bits[slot] |= Bit.HandshakeAck | Bit.Established;
      if (flows.firstSynMark[slot] > 0) this.delay(slot, row, NM.rtt_sum, flows.sinceMark(flows.firstSynMark, slot, sinceStart), HISTOGRAM_OFFSET.rtt);
      this.delay(slot, row, NM.rtt_client_sum, flows.sinceMark(flows.firstSynAckMark, slot, sinceStart), -1);
    }
    if (!syn) {
      const fin = (flags & TcpFlag.FIN) !== 0;
      const segLen = p.l4PayloadLen + (fin ? 1 : 0);
      let kind = SegmentKind.New;
      if (segLen > 0) {
        kind = this.sequence(slot, side, p.seq, segLen, fin);
        if (kind === SegmentKind.Retransmission) {
          this.add(slot, row, NM.retrans_tx + side, 1);
          this.options.onSegmentVerdict?.('retransmission');
        } else if (kind === SegmentKind.OutOfOrder) {
          this.add(slot, row, NM.ooo_tx + side, 1);
          this.options.onSegmentVerdict?.('out_of_order');
        } else if (kind === SegmentKind.KeepAlive) {
          this.options.onSegmentVerdict?.('keep_alive');
        }
      } else if (!(flags & TcpFlag.RST)) {
        const initBit = side === 0 ? Bit.SeqInitClient : Bit.SeqInitServer;
        // An empty segment carries the sender's next sequence number: everything below it was
        // sent, so data arriving later for that range is a retransmission, not new data.
        if (!(flows.bits[slot] & initBit) || ((p.seq - flows.seqEnd[s]) | 0) > 0) flows.seqEnd[s] = p.seq;
        flows.bits[slot] |= initBit;
      }
      if (p.window === 0 && !(flags & (TcpFlag.RST | TcpFlag.FIN))) {
        this.add(slot, row, NM.zero_win_tx + side, 1);
        this.options.onSegmentVerdict?.('zero_window');
      }
      if (p.l4PayloadLen > 0 && (kind === SegmentKind.New || kind === SegmentKind.OutOfOrder)) this.dataDelays(slot, side, row, p);
      else if (ack && p.l4PayloadLen === 0 && !fin && !(flags & TcpFlag.RST)) this.pureAck(slot, side, row, p.ack);
    }
    return side;
  }

  /** Classifies a data segment against what this direction already carried. */
  private sequence(slot: number, side: number, seq: number, segLen: number, fin: boolean): SegmentKind {
    const flows = this.flows;
    const s = slot * 2 + side;
    const initBit = side === 0 ? Bit.SeqInitClient : Bit.SeqInitServer;
    const end = (seq + segLen) >>> 0;
    if (!(flows.bits[slot] & initBit)) {
      flows.bits[slot] |= initBit;
      flows.seqEnd[s] = end;
      return SegmentKind.New;
    }
    const highest = flows.seqEnd[s];
    const gap = (seq - highest) | 0;
    if (gap >= 0) {
      if (gap > 0) this.addHole(s, highest, seq);
      flows.seqEnd[s] = end;
      return SegmentKind.New;
    }
    // One byte (or nothing) just below the highest sequence: a keep-alive probe, not data.
    if (segLen === 1 && !fin && end === highest) return SegmentKind.KeepAlive;
    if (this.fillHole(s, seq, end)) return SegmentKind.OutOfOrder;
    if (((end - highest) | 0) > 0) flows.seqEnd[s] = end;
    return SegmentKind.Retransmission;
  }

  private addHole(s: number, start: number, end: number): void {
    const flows = this.flows;
    const base = s * HOLES_PER_DIRECTION;
    let n = flows.holeCount[s];
    if (n === HOLES_PER_DIRECTION) {
      // Forget the oldest gap: data filling it later will count as a retransmission.
      flows.holeStart.copyWithin(base, base + 1, base + n);
      flows.holeEnd.copyWithin(base, base + 1, base + n);
      n--;
    }
    flows.holeStart[base + n] = start;
    flows.holeEnd[base + n] = end;
    flows.holeCount[s] = n + 1;
  }

  /** True when [start, end) lies inside a gap, which it then (partly) fills. */
  private fillHole(s: number, start: number, end: number): boolean {
    const flows = this.flows;
    const base = s * HOLES_PER_DIRECTION;
    const n = flows.holeCount[s];
    for (let h = 0; h < n; h++) {
      const hs = flows.holeStart[base + h];
      const he = flows.holeEnd[base + h];
      if (((start - hs) | 0) < 0 || ((he - end) | 0) < 0) continue;
      const leftEmpty = start === hs;
      const rightEmpty = end === he;
      if (leftEmpty && rightEmpty) {
        flows.holeStart.copyWithin(base + h, base + h + 1, base + n);
        flows.holeEnd.copyWithin(base + h, base + h + 1, base + n);
        flows.holeCount[s] = n - 1;
      } else if (leftEmpty) {
        flows.holeStart[base + h] = end;
      } else if (rightEmpty) {
        flows.holeEnd[base + h] = start;
      } else {
        flows.holeEnd[base + h] = start;
        if (n < HOLES_PER_DIRECTION) {
          flows.holeStart[base + n] = end;
          flows.holeEnd[base + n] = he;
          flows.holeCount[s] = n + 1;
        }
      }
      return true;
    }
    return false;
  }

  /** ART, CIT and the start of an SRT measurement, from a segment carrying new data. */
  private dataDelays(slot: number, side: number, row: number, p: DecodedPacket): void {
    const ts = this.nowUs;
    const flows = this.flows;
    if (side === 0) {
      if (!(flows.bits[slot] & Bit.AwaitingResponse)) {
        if (flows.responseLastUs[slot] > 0) this.delay(slot, row, NM.cit_sum, ts - flows.responseLastUs[slot], -1);
        flows.bits[slot] |= Bit.AwaitingResponse;
      }
      flows.requestLastUs[slot] = ts;
    } else {
      if (flows.bits[slot] & Bit.AwaitingResponse) {
        this.delay(slot, row, NM.art_sum, ts - flows.requestLastUs[slot], HISTOGRAM_OFFSET.art);
        flows.bits[slot] &= ~Bit.AwaitingResponse;
      }
      flows.responseLastUs[slot] = ts;
    }
    const s = slot * 2 + side;
    if (flows.ackPendingUs[s] === 0) {
      flows.ackPendingSeq[s] = (p.seq + p.l4PayloadLen) >>> 0;
      flows.ackPendingUs[s] = ts;
    }
    // Data that also acknowledges the other side's data ends that SRT sample unmeasured.
    const o = slot * 2 + (1 - side);
    if (flows.ackPendingUs[o] > 0 && p.tcpFlags & TcpFlag.ACK && ((p.ack - flows.ackPendingSeq[o]) | 0) >= 0) flows.ackPendingUs[o] = 0;
  }

  /** SRT: a pure ACK acknowledging the other side's oldest unacknowledged data. */
  private pureAck(slot: number, side: number, row: number, ackNo: number): void {
    const ts = this.nowUs;
    const flows = this.flows;
    const o = slot * 2 + (1 - side);
    if (flows.ackPendingUs[o] > 0 && ((ackNo - flows.ackPendingSeq[o]) | 0) >= 0) {
      // SRT measures the server's stack answering the client's data.
      if (side === 1) this.delay(slot, row, NM.srt_sum, ts - flows.ackPendingUs[o], HISTOGRAM_OFFSET.srt);
      flows.ackPendingUs[o] = 0;
    }
  }

  /** `add` of the four per-packet counters, with their meter offsets known in advance. */
  private countPacket(slot: number, side: number, row: number, p: DecodedPacket): void {
    const slab = this.aggregator.slab;
    slab[row + NM.packet_tx + side] += 1;
    slab[row + NM.byte_tx + side] += p.frameLen;
    slab[row + NM.l3_byte_tx + side] += p.l3Len;
    slab[row + NM.l4_byte_tx + side] += p.l4PayloadLen;
    const flows = this.flows;
    const wide = slot * METER_WIDE_WIDTH + side;
    flows.meterNarrow[slot * METER_NARROW_WIDTH + side + PACKET_METER] += 1;
    flows.meterWide[wide + BYTE_METER] += p.frameLen;
    flows.meterWide[wide + L3_BYTE_METER] += p.l3Len;
    flows.meterWide[wide + L4_BYTE_METER] += p.l4PayloadLen;
  }

  /** Adds to the flow's meter (flow log) and to its row of the current second. */
  private add(slot: number, row: number, metric: number, value: number): void {
    this.aggregator.slab[row + metric] += value;
    this.flows.meterAdd(slot, metric, value);
  }

  /** Records one delay sample; `sumIndex` is the `_sum` of a sum/count/max triple. */
  private delay(slot: number, row: number, sumIndex: number, us: number, histogramOffset: number): void {
    if (us < 0) return;
    const slab = this.aggregator.slab;
    const flows = this.flows;
    slab[row + sumIndex] += us;
    slab[row + sumIndex + 1]++;
    if (us > slab[row + sumIndex + 2]) slab[row + sumIndex + 2] = us;
    flows.meterAdd(slot, sumIndex, us);
    flows.meterAdd(slot, sumIndex + 1, 1);
    flows.meterMax(slot, sumIndex + 2, us);
    if (histogramOffset >= 0) slab[row + histogramOffset + histogramBucket(us)]++;
  }

  private timeoutClassOf(slot: number): number {
    const flows = this.flows;
    if (flows.proto[slot] !== IpProto.TCP) return TimeoutClass.Udp;
    const bits = flows.bits[slot];
    if (bits & Bit.RstSeen || (bits & Bit.FinByClient && bits & Bit.FinByServer)) return TimeoutClass.Closing;
    if (bits & (Bit.FinByClient | Bit.FinByServer)) return TimeoutClass.HalfClosed;
    if (bits & Bit.Established) return TimeoutClass.Established;
    return TimeoutClass.Opening;
  }

  /** Where the flow is observed (SPEC §1): the address rule, refined by the capture point's role. */
  private tapSideOf(slot: number, p: DecodedPacket, packetFromClient: boolean): number {
    const flows = this.flows;
    const byAddress = this.local.tapSide(flows.ipVersion[slot], flows.addr, slot * 8, slot * 8 + 4);
    const points = this.options.observationPoints;
    if (!points || flows.tapPort[slot] === 0) return byAddress;
    return points.tapSide(flows.tapPort[slot], byAddress, p.outgoing, packetFromClient);
  }

  /** Hands a packet's payload to the flow's application layer, creating it on first payload. */
  private l7Packet(slot: number, side: number, p: DecodedPacket): void {
    const ts = this.nowUs;
    const flows = this.flows;
    const tcp = flows.proto[slot] === IpProto.TCP;
    let f = this.l7BySlot[slot];
    if (f === undefined) {
      const ip1 = formatAddress(flows.ipVersion[slot], flows.addr, slot * 8 + 4);
      const port1 = flows.port[slot * 2 + 1];
      f = new FlowL7(this.inference as ProtocolInference, `${ip1}:${port1}`, port1, tcp, this.options.l7?.parser);
      this.l7Flows.set(slot, f);
      // Grown one slot at a time: the array stays packed (holes would make every load check the prototype chain).
      while (this.l7BySlot.length <= slot) this.l7BySlot.push(undefined);
      this.l7BySlot[slot] = f;
    }
    const direction = side as 0 | 1;
    const syn = (p.tcpFlags & TcpFlag.SYN) !== 0;
    // A SYN or SYN-ACK may have swapped the flow's sides (tcp()): its context is made again.
    if (syn) f.context = undefined;
    if (tcp) {
      if (syn) f.syn(direction, p.seq);
      const dataSeq = syn ? (p.seq + 1) >>> 0 : p.seq;
      const payload = p.payload;
      if (payload.length > 0) f.tcpSegment(direction, dataSeq, payload, ts);
      if (p.tcpFlags & TcpFlag.FIN) f.tcpFin(direction, (dataSeq + payload.length) >>> 0, ts);
    } else {
      f.message(direction, p.payload, ts);
    }
    const protocol = f.protocol;
    if (protocol && flows.l7Protocol[slot] === 0) {
      flows.l7Protocol[slot] = L7_PROTOCOL_NAMES.indexOf(protocol.name);
      // Rows of this flow are keyed by protocol from now on.
      flows.rowSecond[slot] = NO_INTERVAL;
      this.l7Stats.flowsParsed++;
    }
    // Both sides closed and every byte before their FINs was parsed: the application state ends
    // now rather than when the flow is forgotten (15 s on, for late retransmissions). Short
    // connections otherwise kept every parser and buffer alive that long: a replay of 162,000 of
    // them spent most of its time collecting garbage.
    const finished = f.active && f.bothFinished;
    if (finished) f.close(ts);
    this.emitL7(slot, f);
    if (finished || !f.active) {
      this.forgetL7(slot);
      flows.bits[slot] |= Bit.L7Off;
    }
  }

  private forgetL7(slot: number): void {
    this.l7Flows.delete(slot);
    this.l7BySlot[slot] = undefined;
  }

  /** Requests waiting longer than the request timeout become timeout records (every minute). */
  private expireRequests(nowUs: number): void {
    const timeouts = this.options.l7?.requestTimeoutUs ?? { tcp: 300_000_000, udp: 150_000_000 };
    for (const [slot, f] of this.l7Flows) {
      f.expire(nowUs, this.flows.proto[slot] === IpProto.TCP ? timeouts.tcp : timeouts.udp);
      this.emitL7(slot, f);
    }
  }

  private emitL7(slot: number, f: FlowL7): void {
    const records = f.take();
    if (records.length === 0 || !this.l7Out) return;
    const ctx = this.l7Context(slot, f);
    const row = this.aggregator.rowBase(this.flows, slot);
    const slab = this.aggregator.slab;
    for (const r of records) {
      this.l7Out.record(ctx, r);
      this.l7Stats.records++;
      if (r.countsAsRequest) addRedCounts(slab, row, NETWORK_L7_OFFSETS, r);
    }
  }

  /**
   * The flow's context, kept on its FlowL7 (L7Output caches the encoded tags and RED rows on it)
   * and made again when what it is made of changed: the flow in the slot, the tap side, the
   * server's process tags; a SYN, which may swap the sides, drops it (l7Packet).
   */
  private l7Context(slot: number, f: FlowL7): FlowContext {
    const flows = this.flows;
    const flowId = this.runIdHigh + flows.serial[slot];
    const tapSide = TAP_SIDES[flows.tapSide[slot]];
    const v = flows.ipVersion[slot];
    const old = f.context;
    const sameFlow = old !== undefined && old.flowId === flowId && old.tapSide === tapSide;
    if (sameFlow && !this.options.serverTags) return old;
    const transport = flows.proto[slot] === IpProto.TCP ? 'tcp' : 'udp';
    const ip1 = sameFlow ? old.ip1 : formatAddress(v, flows.addr, slot * 8 + 4);
    const port1 = flows.port[slot * 2 + 1];
    const side1 = this.options.serverTags?.(transport, ip1, port1);
    if (sameFlow && sameSideTags(side1, old.side1)) return old;
    const ctx: FlowContext = {
      tapSide,
      signalSource: 'packet',
      transport,
      flowId,
      ip0: formatAddress(v, flows.addr, slot * 8),
      ip1,
      port0: flows.port[slot * 2],
      port1,
      ...(side1 ? { side1 } : {}),
    };
    f.context = ctx;
    return ctx;
  }

  /** The close type a flow gets when it ends in its current state (SPEC §5). */
  classify(slot: number): number {
    const flows = this.flows;
    if (flows.proto[slot] !== IpProto.TCP) return CloseType.timeout;
    const bits = flows.bits[slot];
    const finBoth = (bits & Bit.FinByClient) !== 0 && (bits & Bit.FinByServer) !== 0;
    if (finBoth) return CloseType.fin;
    const handshakeOpen = !(bits & Bit.Established);
    if (bits & Bit.RstSeen) {
      const byServer = (bits & Bit.RstByServer) !== 0;
      if (handshakeOpen) {
        // Before any SYN-ACK the server is at fault either way: it refused (RST) or never answered
        // and the client gave up with a RST.
        if (flows.synAckCount[slot] === 0) return byServer ? CloseType.server_direct_rst : CloseType.server_syn_miss;
        return byServer ? CloseType.server_other_rst : CloseType.client_other_rst;
      }
      if (bits & Bit.QueueLack) return CloseType.server_queue_lack;
      return byServer ? CloseType.server_rst : CloseType.client_rst;
    }
    if (handshakeOpen) return flows.synAckCount[slot] === 0 ? CloseType.server_syn_miss : CloseType.client_ack_miss;
    if (bits & Bit.QueueLack) return CloseType.server_queue_lack;
    if (bits & Bit.FinByClient) return CloseType.client_half_close;
    if (bits & Bit.FinByServer) return CloseType.server_half_close;
    return CloseType.timeout;
  }

  private closeFlow(slot: number, closeType: number): void {
    const flows = this.flows;
    // Without L7 the array stays empty: no load out of its bounds.
    const l7 = this.l7Flows.size > 0 ? this.l7BySlot[slot] : undefined;
    if (l7 !== undefined) {
      l7.close(flows.lastUs[slot]);
      this.emitL7(slot, l7);
      this.forgetL7(slot);
    }
    const row = this.aggregator.rowBase(flows, slot);
    const slab = this.aggregator.slab;
    slab[row + NM.closed_flow]++;
    const closeMetric = CLOSE_METRIC[closeType];
    if (closeMetric >= 0) slab[row + closeMetric]++;
    // UDP has no connection to fail: its flows simply end when idle.
    const failure = flows.proto[slot] === IpProto.TCP ? FAILURE_METRIC[closeType] : -1;
    if (failure >= 0) slab[row + failure]++;
    this.emitFlowLog(slot, closeType, flows.lastUs[slot]);
    flows.remove(slot);
  }

  private emitFlowLog(slot: number, closeType: number, endUs: number): void {
    const flows = this.flows;
    const v = flows.ipVersion[slot];
    const start = flows.reportStartUs[slot];
    const end = Math.max(start, Math.min(endUs, flows.lastUs[slot]));
    const port1 = flows.port[slot * 2 + 1];
    const b = this.sink.nativeBlock('l4_flow_log');
    const row = b.beginRow();
    const data = b.data;
    const { ops, args, runs, column } = FLOW_LOG_LAYOUT;
    for (let i = 0; i < ops.length; i++) {
      const c = column[i];
      switch (ops[i]) {
        case LogColumn.Time:
          b.words[c][row] = Math.max(0, Math.floor(end / 1_000_000));
          break;
        case LogColumn.TapSide:
          b.putEncoded(c, TAP_SIDE_BYTES[flows.tapSide[slot]]);
          break;
        case LogColumn.SignalSource:
          b.putEncoded(c, PACKET_BYTES);
          break;
        case LogColumn.Host:
          b.putEncoded(c, this.hostBytes);
          break;
        case LogColumn.Protocol:
          b.putEncoded(c, flows.proto[slot] === IpProto.TCP ? TCP_BYTES : UDP_BYTES);
          break;
        case LogColumn.L7Protocol:
          b.putEncoded(c, L7_PROTOCOL_BYTES[flows.l7Protocol[slot]]);
          break;
        case LogColumn.FlowId:
        case LogColumn.StartTime:
        case LogColumn.EndTime:
        case LogColumn.Duration: {
          // Stored as words here (see NativeBlock.words), not handed to a helper.
          const op = ops[i];
          const v = op === LogColumn.FlowId ? this.runIdHigh + flows.serial[slot] : op === LogColumn.StartTime ? start : op === LogColumn.EndTime ? end : end - start;
          const w = b.words[c];
          const low = v >>> 0;
          w[row * 2] = low;
          w[row * 2 + 1] = Math.floor((v - low) / 4294967296);
          break;
        }
        case LogColumn.Ip0:
        case LogColumn.Service0: {
          const at = b.stringRoom(c, 1 + MAX_ADDRESS_TEXT);
          b.stringEnd(c, putAddressString(data[c], at, v, flows.addr, slot * 8));
          break;
        }
        case LogColumn.Ip1: {
          const at = b.stringRoom(c, 1 + MAX_ADDRESS_TEXT);
          b.stringEnd(c, putAddressString(data[c], at, v, flows.addr, slot * 8 + 4));
          break;
        }
        case LogColumn.Port0:
          putU16(data[c], row * 2, flows.port[slot * 2]);
          break;
        case LogColumn.Port1:
          putU16(data[c], row * 2, port1);
          break;
        case LogColumn.Service1: {
          // ip:port without brackets, also for IPv6 (what this table has always held).
          const at = b.stringRoom(c, 1 + MAX_ADDRESS_TEXT + 6);
          const d = data[c];
          let e = putAddressText(d, at + 1, v, flows.addr, slot * 8 + 4);
          d[e++] = 0x3a;
          e = putDecimalText(d, e, port1);
          d[at] = e - at - 1;
          b.stringEnd(c, e);
          break;
        }
        case LogColumn.Vlan:
          putU16(data[c], row * 2, flows.vlan[slot]);
          break;
        case LogColumn.DirectionScore:
          putU8(data[c], row, flows.directionScore[slot]);
          break;
        case LogColumn.TcpFlags0:
          putU8(data[c], row, flows.flagsSeen[slot * 2]);
          break;
        case LogColumn.TcpFlags1:
          putU8(data[c], row, flows.flagsSeen[slot * 2 + 1]);
          break;
        case LogColumn.Meters:
          putMeterRun(b.words, row, c, args[i], runs[i], flows, slot);
          break;
        case LogColumn.CloseType:
          b.putEncoded(c, CLOSE_TYPE_BYTES[closeType]);
          break;
        case LogColumn.Status:
          b.putEncoded(c, flows.proto[slot] === IpProto.TCP ? STATUS_BYTES[closeType] : OK_BYTES);
          break;
        case LogColumn.IsNewFlow:
          putU8(data[c], row, start === flows.startUs[slot] ? 1 : 0);
          break;
        case LogColumn.IsClosed:
          putU8(data[c], row, closeType === CloseType.forced_report ? 0 : 1);
          break;
        default:
          // A column packet data has no value for (process, pid, container): its default, zero
          // bytes already there for a fixed-width one, one (the empty string) for a String.
          if (b.kind[c] === ColumnKind.String) b.putEmpty(c);
      }
    }
    b.endRow();
  }
}

function sameSideTags(a: SideTags | undefined, b: SideTags | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.pid === b.pid && a.process === b.process && a.container === b.container && a.service === b.service);
}

/** The `l7_*` RED columns of the network tables. */
const NETWORK_L7_OFFSETS: RedOffsets = {
  request: NM.l7_request,
  response: NM.l7_response,
  error: NM.l7_error,
  client_error: NM.l7_client_error,
  server_error: NM.l7_server_error,
  timeout: NM.l7_timeout,
  rrt_sum: NM.l7_rrt_sum,
  rrt_count: NM.l7_rrt_count,
  rrt_max: NM.l7_rrt_max,
};

/** Network failure counters (SPEC §3) fed by close types. */
export const FAILURE_COUNTER: Record<string, number | undefined> = {
  server_syn_miss: NM.server_establish_fail,
  server_direct_rst: NM.server_establish_fail,
  server_other_rst: NM.server_establish_fail,
  server_queue_lack: NM.server_establish_fail,
  client_ack_miss: NM.client_establish_fail,
  client_other_rst: NM.client_establish_fail,
  client_port_reuse: NM.client_establish_fail,
  timeout: NM.tcp_transfer_fail,
  client_rst: NM.tcp_rst_fail,
  server_rst: NM.tcp_rst_fail,
  client_half_close: NM.client_half_close_flow,
  server_half_close: NM.server_half_close_flow,
};

/** Meter offsets of the per-packet counters' `_tx` (the `_rx` follows). */
const PACKET_METER = NARROW_AT[NM.packet_tx];
const BYTE_METER = WIDE_AT[NM.byte_tx];
const L3_BYTE_METER = WIDE_AT[NM.l3_byte_tx];
const L4_BYTE_METER = WIDE_AT[NM.l4_byte_tx];
if (
  NARROW_AT[NM.packet_rx] !== PACKET_METER + 1 ||
  WIDE_AT[NM.byte_rx] !== BYTE_METER + 1 ||
  WIDE_AT[NM.l3_byte_rx] !== L3_BYTE_METER + 1 ||
  WIDE_AT[NM.l4_byte_rx] !== L4_BYTE_METER + 1 ||
  PACKET_METER < 0 ||
  BYTE_METER < 0
) {
  throw new Error('flow meter layout: each per-packet _rx counter must follow its _tx');
}

/** Per close type: its `close_*` counter and its TCP failure counter (-1: none). */
const CLOSE_METRIC = Int32Array.from(CLOSE_TYPES, (name) => NM[`close_${name}`] ?? -1);
const FAILURE_METRIC = Int32Array.from(CLOSE_TYPES, (name) => FAILURE_COUNTER[name] ?? -1);

const enum LogColumn {
  Skip,
  Time,
  TapSide,
  SignalSource,
  Host,
  Protocol,
  L7Protocol,
  FlowId,
  Ip0,
  Ip1,
  Port0,
  Port1,
  Service0,
  Service1,
  Vlan,
  StartTime,
  EndTime,
  Duration,
  DirectionScore,
  TcpFlags0,
  TcpFlags1,
  Meters,
  CloseType,
  Status,
  IsNewFlow,
  IsClosed,
}

/**
 * The flow log's RowBinary layout, from the table's columns: what each column is filled with
 * (with its type checked, so a schema change cannot silently shift the bytes), or how many bytes
 * its default takes (`args`). A run of metric columns is one `Meters` op: `args` is where the run
 * starts in `meterOffset`/`meterIsWide` (the meter part and offset of each metric), `runs` its length.
 */
function flowLogLayout(): { ops: Int32Array; args: Int32Array; runs: Int32Array; column: Int32Array; meterOffset: Int32Array; meterIsWide: Uint8Array } {
  const known: Record<string, [LogColumn, string]> = {
    time: [LogColumn.Time, 'DateTime'],
    tap_side: [LogColumn.TapSide, 'LowCardinality(String)'],
    signal_source: [LogColumn.SignalSource, 'LowCardinality(String)'],
    host: [LogColumn.Host, 'LowCardinality(String)'],
    protocol: [LogColumn.Protocol, 'LowCardinality(String)'],
    l7_protocol: [LogColumn.L7Protocol, 'LowCardinality(String)'],
    flow_id: [LogColumn.FlowId, 'UInt64'],
    ip_0: [LogColumn.Ip0, 'String'],
    ip_1: [LogColumn.Ip1, 'String'],
    port_0: [LogColumn.Port0, 'UInt16'],
    port_1: [LogColumn.Port1, 'UInt16'],
    service_0: [LogColumn.Service0, 'LowCardinality(String)'],
    service_1: [LogColumn.Service1, 'LowCardinality(String)'],
    vlan: [LogColumn.Vlan, 'UInt16'],
    start_time: [LogColumn.StartTime, 'DateTime64(6)'],
    end_time: [LogColumn.EndTime, 'DateTime64(6)'],
    duration: [LogColumn.Duration, 'UInt64'],
    direction_score: [LogColumn.DirectionScore, 'UInt8'],
    tcp_flags_0: [LogColumn.TcpFlags0, 'UInt8'],
    tcp_flags_1: [LogColumn.TcpFlags1, 'UInt8'],
    close_type: [LogColumn.CloseType, 'LowCardinality(String)'],
    status: [LogColumn.Status, 'LowCardinality(String)'],
    is_new_flow: [LogColumn.IsNewFlow, 'UInt8'],
    is_closed: [LogColumn.IsClosed, 'UInt8'],
  };
  const metered = new Map(METERED_METRICS.map((i) => [NETWORK_METRICS[i].name, i]));
  const ops: number[] = [];
  const args: number[] = [];
  const runs: number[] = [];
  /** The column an op writes (the first of a run of meters). */
  const column: number[] = [];
  const meterOffset: number[] = [];
  const meterIsWide: number[] = [];
  for (const [index, c] of L4_FLOW_LOG.columns.entries()) {
    const metric = metered.get(c.name);
    if (metric !== undefined) {
      expectColumnType(L4_FLOW_LOG, c, 'UInt64');
      if (ops[ops.length - 1] !== LogColumn.Meters) {
        ops.push(LogColumn.Meters);
        args.push(meterOffset.length);
        runs.push(0);
        column.push(index);
      }
      runs[runs.length - 1]++;
      meterIsWide.push(WIDE_AT[metric] >= 0 ? 1 : 0);
      meterOffset.push(WIDE_AT[metric] >= 0 ? WIDE_AT[metric] : NARROW_AT[metric]);
      continue;
    }
    const { op } = columnOp(L4_FLOW_LOG, c, known, LogColumn.Skip);
    ops.push(op);
    args.push(0);
    runs.push(0);
    column.push(index);
  }
  return {
    ops: Int32Array.from(ops),
    args: Int32Array.from(args),
    runs: Int32Array.from(runs),
    column: Int32Array.from(column),
    meterOffset: Int32Array.from(meterOffset),
    meterIsWide: Uint8Array.from(meterIsWide),
  };
}

const FLOW_LOG_LAYOUT = flowLogLayout();

/**
 * A run of the flow log's metric columns, one after another: UInt64 each, written when not 0,
 * as words (see NativeBlock.words): through `putU64`, every value beyond a small integer took a
 * heap box on the way (half a kilobyte of garbage per flow log row).
 */
function putMeterRun(words: Uint32Array[], row: number, firstColumn: number, first: number, count: number, flows: FlowTable, slot: number): void {
  const { meterOffset, meterIsWide } = FLOW_LOG_LAYOUT;
  const wide = flows.meterWide;
  const narrow = flows.meterNarrow;
  const wideAt = slot * METER_WIDE_WIDTH;
  const narrowAt = slot * METER_NARROW_WIDTH;
  for (let k = first, last = first + count, col = firstColumn; k < last; k++, col++) {
    const offset = meterOffset[k];
    const value = meterIsWide[k] === 1 ? wide[wideAt + offset] : narrow[narrowAt + offset];
    if (value === 0) continue;
    // Meters hold whole numbers below 2^53.
    const low = value >>> 0;
    const column = words[col];
    column[row * 2] = low;
    column[row * 2 + 1] = (value - low) / 4294967296;
  }
}
const TAP_SIDE_BYTES = TAP_SIDES.map(encodeString);
const PACKET_BYTES = encodeString('packet');
const TCP_BYTES = encodeString('tcp');
const UDP_BYTES = encodeString('udp');
const OK_BYTES = encodeString('ok');
const L7_PROTOCOL_BYTES = Array.from({ length: 256 }, (_, i) => encodeString(L7_PROTOCOL_NAMES[i] ?? ''));
const CLOSE_TYPE_BYTES = CLOSE_TYPES.map(encodeString);
const STATUS_BYTES = CLOSE_TYPES.map((_, code) => encodeString(closeStatus(code)));

function loadAddress(p: DecodedPacket, source: boolean, out: Uint32Array): void {
  const a = source ? p.srcAddr : p.dstAddr;
  out[0] = a[0];
  out[1] = a[1];
  out[2] = a[2];
  out[3] = a[3];
}
