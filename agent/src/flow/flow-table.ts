import { NM } from '../aggregate/network-metrics';
import { METER_NARROW_WIDTH, METER_WIDE_WIDTH, NARROW_AT, WIDE_AT } from './flow-meter';

/** Out-of-order holes remembered per direction; more gaps than this forget the oldest. */
export const HOLES_PER_DIRECTION = 2;

/** "No second / minute yet" in the Uint32 interval columns. */
export const NO_INTERVAL = 0xffffffff;

/** Which idle timeout applies to a flow; each class is kept in its own least-recently-used list. */
export const enum TimeoutClass {
  Opening = 0,
  Established = 1,
  HalfClosed = 2,
  Closing = 3,
  Udp = 4,
}
export const TIMEOUT_CLASS_COUNT = 5;

/**
 * Flow state in structure-of-arrays form: one typed-array column per field, a flow is a slot
 * index. Hand-written instead of objects because a million concurrent flows must fit in well
 * under a GiB and the per-packet lookup must not allocate; side 0 is the client, side 1 the server,
 * per-side columns are indexed `slot * 2 + side`.
 */
export class FlowTable {
  capacity = 0;
  /** Live flows. */
  size = 0;
  /** Flow slots handed out since the start, used as the low part of flow ids. */
  created = 0;

  // Identity: addresses as 4 words per side (IPv4 in word 3), ports, protocol.
  addr = new Uint32Array(0);
  port = new Uint16Array(0);
  ipVersion = new Uint8Array(0);
  proto = new Uint8Array(0);
  hash = new Int32Array(0);
  /** Observation point of the flow (DecodedPacket.tapPort). */
  tapPort = new Uint32Array(0);
  bucketNext = new Int32Array(0);

  // Lifecycle and TCP state.
  /** Creation number of the flow (the low part of its id); tells a reused slot from its last tenant. */
  serial = new Float64Array(0);
  startUs = new Float64Array(0);
  lastUs = new Float64Array(0);
  /** Start of the interval the flow log row being accumulated covers. */
  reportStartUs = new Float64Array(0);
  /** Where the flow was observed (TapSideCode), from the local addresses. */
  tapSide = new Uint8Array(0);
  vlan = new Uint16Array(0);
  /** Application protocol code once known (0 = none yet). */
  l7Protocol = new Uint8Array(0);
  directionScore = new Uint8Array(0);
  timeoutClass = new Uint8Array(0);
  lruPrev = new Int32Array(0);
  lruNext = new Int32Array(0);
  /** Bit flags, see FlowBit. */
  bits = new Uint32Array(0);
  /** Handshake times as µs after `startUs` plus one (0: not seen); read them with `mark()`. */
  firstSynMark = new Uint32Array(0);
  lastSynMark = new Uint32Array(0);
  firstSynAckMark = new Uint32Array(0);
  clientIsn = new Uint32Array(0);
  serverIsn = new Uint32Array(0);
  /** Saturate at 255: only "none, one, several" matters. */
  synCount = new Uint8Array(0);
  synAckCount = new Uint8Array(0);
  /** Last client data awaiting the first server data (ART), and the last server data (CIT). */
  requestLastUs = new Float64Array(0);
  responseLastUs = new Float64Array(0);
  /** Aggregation row cache: the row of the current second this flow adds to. */
  rowIndex = new Int32Array(0);
  rowSecond = new Uint32Array(0);
  /** Minute whose flow log row this flow has pending data for (NO_INTERVAL: none). */
  reportMinute = new Uint32Array(0);

  // Per side (slot * 2 + side).
  flagsSeen = new Uint8Array(0);
  seqEnd = new Uint32Array(0);
  holeCount = new Uint8Array(0);
  holeStart = new Uint32Array(0);
  holeEnd = new Uint32Array(0);
  windowScale = new Int8Array(0);
  ackPendingSeq = new Uint32Array(0);
  ackPendingUs = new Float64Array(0);

  /** The flow log meter (see flow-meter.ts): Float64 and Uint32 parts. */
  meterWide = new Float64Array(0);
  meterNarrow = new Uint32Array(0);

  /** Hash buckets: slot of the first flow, -1 when empty. */
  private buckets = new Int32Array(0);
  private bucketMask = 0;
  private freeList: number[] = [];
  readonly lruHead = new Int32Array(TIMEOUT_CLASS_COUNT).fill(-1);
  readonly lruTail = new Int32Array(TIMEOUT_CLASS_COUNT).fill(-1);

  constructor(readonly maxFlows: number, initialCapacity = 1024) {
    this.grow(Math.min(initialCapacity, maxFlows));
  }

  get isFull(): boolean {
    return this.size >= this.maxFlows;
  }

  /** The packet's side in the flow `find` returned last (see `sideOf`). */
  foundSide = -1;

  /** Finds the flow of a packet given as (src, dst); returns the slot (its side in `foundSide`), or -1. */
  find(hash: number, srcAddr: Uint32Array, dstAddr: Uint32Array, srcPort: number, dstPort: number, proto: number, tapPort = 0): number {
    let slot = this.buckets[hash & this.bucketMask];
    while (slot >= 0) {
      if (this.hash[slot] === hash && this.proto[slot] === proto && this.tapPort[slot] === tapPort) {
        const side = this.sideOf(slot, srcAddr, srcPort, dstAddr, dstPort);
        if (side >= 0) {
          this.foundSide = side;
          return slot;
        }
      }
      slot = this.bucketNext[slot];
    }
    return -1;
  }

  /** 0 when (src, dst) is (client, server) of the flow, 1 when reversed, -1 when neither. */
  sideOf(slot: number, srcAddr: Uint32Array, srcPort: number, dstAddr: Uint32Array, dstPort: number): number {
    const a = slot * 8;
    const addr = this.addr;
    const p = slot * 2;
    if (
      this.port[p] === srcPort &&
      this.port[p + 1] === dstPort &&
      addr[a + 3] === srcAddr[3] &&
      addr[a + 7] === dstAddr[3] &&
      addr[a] === srcAddr[0] &&
      addr[a + 1] === srcAddr[1] &&
      addr[a + 2] === srcAddr[2] &&
      addr[a + 4] === dstAddr[0] &&
      addr[a + 5] === dstAddr[1] &&
      addr[a + 6] === dstAddr[2]
    ) {
      return 0;
    }
    if (
      this.port[p] === dstPort &&
      this.port[p + 1] === srcPort &&
      addr[a + 3] === dstAddr[3] &&
      addr[a + 7] === srcAddr[3] &&
      addr[a] === dstAddr[0] &&
      addr[a + 1] === dstAddr[1] &&
      addr[a + 2] === dstAddr[2] &&
      addr[a + 4] === srcAddr[0] &&
      addr[a + 5] === srcAddr[1] &&
      addr[a + 6] === srcAddr[2]
    ) {
      return 1;
    }
    return -1;
  }

  /** Allocates a slot for a new flow with side 0 = (clientAddr, clientPort). Caller checks isFull. */
  insert(
    hash: number,
    ipVersion: number,
    proto: number,
    clientAddr: Uint32Array,
    clientPort: number,
    serverAddr: Uint32Array,
    serverPort: number,
    nowUs: number,
    tapPort = 0,
  ): number {
    // Tables up to a quarter of a million flows grow fourfold (fewer copies of every column, measured
    // as 3% of a replay of 160,000 flows), larger ones double to bound the room left unused.
    if (this.freeList.length === 0) this.grow(Math.min(this.maxFlows, Math.max(this.capacity * (this.capacity < 262144 ? 4 : 2), 1024)));
    const slot = this.freeList.pop() as number;
    this.size++;
    this.created++;
    const a = slot * 8;
    for (let k = 0; k < 4; k++) {
      this.addr[a + k] = clientAddr[k];
      this.addr[a + 4 + k] = serverAddr[k];
    }
    this.port[slot * 2] = clientPort;
    this.port[slot * 2 + 1] = serverPort;
    this.ipVersion[slot] = ipVersion;
    this.proto[slot] = proto;
    this.tapPort[slot] = tapPort;
    this.hash[slot] = hash;
    const bucket = hash & this.bucketMask;
    this.bucketNext[slot] = this.buckets[bucket];
    this.buckets[bucket] = slot;
    this.serial[slot] = this.created;
    this.startUs[slot] = nowUs;
    this.lastUs[slot] = nowUs;
    this.reportStartUs[slot] = nowUs;
    this.tapSide[slot] = 0;
    this.vlan[slot] = 0;
    this.l7Protocol[slot] = 0;
    this.directionScore[slot] = 0;
    this.bits[slot] = 0;
    this.firstSynMark[slot] = 0;
    this.lastSynMark[slot] = 0;
    this.firstSynAckMark[slot] = 0;
    this.clientIsn[slot] = 0;
    this.serverIsn[slot] = 0;
    this.synCount[slot] = 0;
    this.synAckCount[slot] = 0;
    this.requestLastUs[slot] = 0;
    this.responseLastUs[slot] = 0;
    this.rowIndex[slot] = -1;
    this.rowSecond[slot] = NO_INTERVAL;
    this.reportMinute[slot] = NO_INTERVAL;
    for (let side = 0; side < 2; side++) {
      const s = slot * 2 + side;
      this.flagsSeen[s] = 0;
      this.seqEnd[s] = 0;
      this.holeCount[s] = 0;
      this.windowScale[s] = -1;
      this.ackPendingSeq[s] = 0;
      this.ackPendingUs[s] = 0;
    }
    this.clearMeter(slot);
    this.timeoutClass[slot] = proto === 17 ? TimeoutClass.Udp : TimeoutClass.Opening;
    this.lruAppend(slot);
    return slot;
  }

  remove(slot: number): void {
    const bucket = this.hash[slot] & this.bucketMask;
    let prev = -1;
    let cur = this.buckets[bucket];
    while (cur >= 0 && cur !== slot) {
      prev = cur;
      cur = this.bucketNext[cur];
    }
    if (cur === slot) {
      if (prev < 0) this.buckets[bucket] = this.bucketNext[slot];
      else this.bucketNext[prev] = this.bucketNext[slot];
    }
    this.lruUnlink(slot);
    this.size--;
    this.freeList.push(slot);
  }

  /** Marks the flow as just used: it moves to the tail of its timeout class (and to a new class). */
  touch(slot: number, timeoutClass: number): void {
    if (this.timeoutClass[slot] === timeoutClass && this.lruTail[timeoutClass] === slot) return;
    this.lruUnlink(slot);
    this.timeoutClass[slot] = timeoutClass;
    this.lruAppend(slot);
  }

  /** Exchanges the client and server sides of a flow (a later, surer direction decision). */
  swapSides(slot: number): void {
    const a = slot * 8;
    for (let k = 0; k < 4; k++) swap(this.addr, a + k, a + 4 + k);
    const s = slot * 2;
    swap(this.port, s, s + 1);
    swap(this.flagsSeen, s, s + 1);
    swap(this.seqEnd, s, s + 1);
    swap(this.holeCount, s, s + 1);
    for (let h = 0; h < HOLES_PER_DIRECTION; h++) {
      swap(this.holeStart, s * HOLES_PER_DIRECTION + h, (s + 1) * HOLES_PER_DIRECTION + h);
      swap(this.holeEnd, s * HOLES_PER_DIRECTION + h, (s + 1) * HOLES_PER_DIRECTION + h);
    }
    swap(this.windowScale, s, s + 1);
    swap(this.ackPendingSeq, s, s + 1);
    swap(this.ackPendingUs, s, s + 1);
    for (const tx of TX_METRICS) {
      const a = this.meterGet(slot, tx);
      this.meterSet(slot, tx, this.meterGet(slot, tx + 1));
      this.meterSet(slot, tx + 1, a);
    }
    // The cached aggregation row was keyed on the old orientation.
    this.rowSecond[slot] = NO_INTERVAL;
  }

  /**
   * Records a time in a mark column (see firstSynMark), given as µs since the flow's start:
   * a small number, where a time since the epoch would be boxed by every call that V8 does not inline.
   */
  setMark(column: Uint32Array, slot: number, sinceStartUs: number): void {
    const offset = sinceStartUs + 1;
    column[slot] = offset > 0 && offset < 0xffffffff ? offset : 0;
  }

  /**
   * µs from a mark column's time to `sinceStartUs` (µs since the flow's start), or from the
   * epoch when no mark was recorded.
   */
  sinceMark(column: Uint32Array, slot: number, sinceStartUs: number): number {
    const m = column[slot];
    return m === 0 ? this.startUs[slot] + sinceStartUs : sinceStartUs - (m - 1);
  }

  meterAdd(slot: number, metric: number, value: number): void {
    const wide = WIDE_AT[metric];
    if (wide >= 0) this.meterWide[slot * METER_WIDE_WIDTH + wide] += value;
    else {
      const narrow = NARROW_AT[metric];
      if (narrow >= 0) this.meterNarrow[slot * METER_NARROW_WIDTH + narrow] += value;
    }
  }

  meterSet(slot: number, metric: number, value: number): void {
    const wide = WIDE_AT[metric];
    if (wide >= 0) this.meterWide[slot * METER_WIDE_WIDTH + wide] = value;
    else if (NARROW_AT[metric] >= 0) this.meterNarrow[slot * METER_NARROW_WIDTH + NARROW_AT[metric]] = value;
  }

  meterMax(slot: number, metric: number, value: number): void {
    const i = slot * METER_NARROW_WIDTH + NARROW_AT[metric];
    if (value > this.meterNarrow[i]) this.meterNarrow[i] = Math.min(value, 0xffffffff);
  }

  meterGet(slot: number, metric: number): number {
    const wide = WIDE_AT[metric];
    if (wide >= 0) return this.meterWide[slot * METER_WIDE_WIDTH + wide];
    const narrow = NARROW_AT[metric];
    return narrow >= 0 ? this.meterNarrow[slot * METER_NARROW_WIDTH + narrow] : 0;
  }

  clearMeter(slot: number): void {
    // Loops rather than fill(): a few dozen elements, once per flow, where a call costs more.
    const wide = this.meterWide;
    for (let i = slot * METER_WIDE_WIDTH, end = i + METER_WIDE_WIDTH; i < end; i++) wide[i] = 0;
    const narrow = this.meterNarrow;
    for (let i = slot * METER_NARROW_WIDTH, end = i + METER_NARROW_WIDTH; i < end; i++) narrow[i] = 0;
  }

  private lruAppend(slot: number): void {
    const c = this.timeoutClass[slot];
    const tail = this.lruTail[c];
    this.lruPrev[slot] = tail;
    this.lruNext[slot] = -1;
    if (tail >= 0) this.lruNext[tail] = slot;
    else this.lruHead[c] = slot;
    this.lruTail[c] = slot;
  }

  private lruUnlink(slot: number): void {
    const c = this.timeoutClass[slot];
    const prev = this.lruPrev[slot];
    const next = this.lruNext[slot];
    if (prev >= 0) this.lruNext[prev] = next;
    else this.lruHead[c] = next;
    if (next >= 0) this.lruPrev[next] = prev;
    else this.lruTail[c] = prev;
  }

  private grow(newCapacity: number): void {
    const old = this.capacity;
    if (newCapacity <= old) throw new Error(`flow table cannot grow beyond ${this.maxFlows} flows`);
    const n = newCapacity;
    this.addr = resize(this.addr, n * 8);
    this.port = resize(this.port, n * 2);
    this.ipVersion = resize(this.ipVersion, n);
    this.proto = resize(this.proto, n);
    this.hash = resize(this.hash, n);
    this.tapPort = resize(this.tapPort, n);
    this.bucketNext = resize(this.bucketNext, n);
    this.serial = resize(this.serial, n);
    this.startUs = resize(this.startUs, n);
    this.lastUs = resize(this.lastUs, n);
    this.reportStartUs = resize(this.reportStartUs, n);
    this.tapSide = resize(this.tapSide, n);
    this.vlan = resize(this.vlan, n);
    this.l7Protocol = resize(this.l7Protocol, n);
    this.directionScore = resize(this.directionScore, n);
    this.timeoutClass = resize(this.timeoutClass, n);
    this.lruPrev = resize(this.lruPrev, n);
    this.lruNext = resize(this.lruNext, n);
    this.bits = resize(this.bits, n);
    this.firstSynMark = resize(this.firstSynMark, n);
    this.lastSynMark = resize(this.lastSynMark, n);
    this.firstSynAckMark = resize(this.firstSynAckMark, n);
    this.clientIsn = resize(this.clientIsn, n);
    this.serverIsn = resize(this.serverIsn, n);
    this.synCount = resize(this.synCount, n);
    this.synAckCount = resize(this.synAckCount, n);
    this.requestLastUs = resize(this.requestLastUs, n);
    this.responseLastUs = resize(this.responseLastUs, n);
    this.rowIndex = resize(this.rowIndex, n);
    this.rowSecond = resize(this.rowSecond, n);
    this.reportMinute = resize(this.reportMinute, n);
    this.flagsSeen = resize(this.flagsSeen, n * 2);
    this.seqEnd = resize(this.seqEnd, n * 2);
    this.holeCount = resize(this.holeCount, n * 2);
    this.holeStart = resize(this.holeStart, n * 2 * HOLES_PER_DIRECTION);
    this.holeEnd = resize(this.holeEnd, n * 2 * HOLES_PER_DIRECTION);
    this.windowScale = resize(this.windowScale, n * 2);
    this.ackPendingSeq = resize(this.ackPendingSeq, n * 2);
    this.ackPendingUs = resize(this.ackPendingUs, n * 2);
    this.meterWide = resize(this.meterWide, n * METER_WIDE_WIDTH);
    this.meterNarrow = resize(this.meterNarrow, n * METER_NARROW_WIDTH);
    // Rehash into a bucket array of at least the capacity (a power of two): chains stay short.
    let buckets = 1024;
    while (buckets < n) buckets *= 2;
    if (buckets !== this.buckets.length) {
      this.buckets = new Int32Array(buckets).fill(-1);
      this.bucketMask = buckets - 1;
      // Growth only happens when every slot is in use, so all old slots hold live flows.
      for (let slot = 0; slot < old; slot++) {
        const b = this.hash[slot] & this.bucketMask;
        this.bucketNext[slot] = this.buckets[b];
        this.buckets[b] = slot;
      }
    }
    for (let slot = n - 1; slot >= old; slot--) this.freeList.push(slot);
    this.capacity = n;
  }
}

const TX_METRICS = Object.entries(NM)
  .filter(([name, index]) => name.endsWith('_tx') && index <= NM.cit_max)
  .map(([, index]) => index);

type TypedArray = Uint8Array | Int8Array | Uint16Array | Int32Array | Uint32Array | Float64Array;

function resize<T extends TypedArray>(array: T, length: number): T {
  const next = new (array.constructor as new (n: number) => T)(length);
  next.set(array.subarray(0, Math.min(array.length, length)) as never);
  return next;
}

function swap(array: TypedArray, i: number, j: number): void {
  const t = array[i];
  array[i] = array[j];
  array[j] = t;
}

/** Symmetric hash of a 5-tuple: both directions of a flow hash alike (FNV-style mixing). */
export function flowHash(a: Uint32Array, portA: number, b: Uint32Array, portB: number, proto: number): number {
  const ha = mix(mix(mix(mix(0x811c9dc5, a[0]), a[1]), a[2]), a[3]) ^ (portA * 0x9e3779b1);
  const hb = mix(mix(mix(mix(0x811c9dc5, b[0]), b[1]), b[2]), b[3]) ^ (portB * 0x9e3779b1);
  // Addition is commutative, so (a, b) and (b, a) meet in the same bucket.
  return mix((ha + hb) | 0, proto) & 0x7fffffff;
}

function mix(h: number, v: number): number {
  h ^= v;
  h = Math.imul(h, 0x01000193);
  h ^= h >>> 15;
  return Math.imul(h, 0x85ebca6b);
}
