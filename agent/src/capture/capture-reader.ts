/**
 * Streaming reader for classic pcap and pcapng capture files.
 *
 * The reader is push-based: the caller feeds it chunks of any size, split anywhere, and it calls
 * the packet handler once per frame with one reused {@link CapturedPacket}. Memory stays bounded:
 * at most one incomplete record is buffered between chunks. When a record lies wholly inside the
 * current chunk, `data` is a view of the chunk (no copy); only a record that straddles chunks is
 * copied into a carry buffer, and `data` then views that buffer.
 *
 * Formats:
 * - pcap (https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/): magic a1b2c3d4 (µs) and
 *   a1b23c4d (ns) in either byte order.
 * - pcapng (https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/): SHB, IDB, EPB, SPB and the
 *   obsolete PB; all other blocks are skipped by their length. Sections may change byte order.
 */
import * as fs from 'node:fs';
import type { CapturedPacket, PacketHandler } from './captured-packet';

/** Thrown for input that is not a capture, is corrupt, or ends in the middle of a record. */
export class CaptureFormatError extends Error {
  /** File offset of the record (or byte) at fault, when known. */
  readonly offset: number | undefined;

  constructor(message: string, offset?: number) {
    super(message);
    this.name = 'CaptureFormatError';
    this.offset = offset;
  }
}

/** Live counters of a {@link CaptureReader}. */
export interface CaptureReaderStats {
  /** Frames handed to the packet handler. */
  packets: number;
  /** Sum of `capLen` of the frames handed out. */
  bytes: number;
  /** pcapng blocks skipped because their type is not needed (NRB, ISB, DSB, custom, ...). */
  blocksSkipped: number;
  /** File offset just past the last complete record processed. */
  bytesConsumed: number;
}

export type CaptureFormat = 'pcap' | 'pcapng';

/** Largest classic pcap record body accepted (libpcap's own sanity limit for incl_len). */
export const MAX_PCAP_RECORD = 256 * 1024;
/** Largest pcapng block accepted (total length). */
export const MAX_PCAPNG_BLOCK = 16 * 1024 * 1024;

const FMT_NONE = 0;
const FMT_PCAP = 1;
const FMT_PCAPNG = 2;

const PCAP_GLOBAL_HEADER = 24;
const PCAP_RECORD_HEADER = 16;
const PCAPNG_BLOCK_HEADER = 12; // type + length + (BOM of an SHB); every block is at least 12 bytes

const MAGIC_PCAP_US = 0xa1b2c3d4;
const MAGIC_PCAP_NS = 0xa1b23c4d;
const PCAPNG_BOM = 0x1a2b3c4d;

const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 0x00000001;
const BT_PB = 0x00000002;
const BT_SPB = 0x00000003;
const BT_EPB = 0x00000006;

const OPT_ENDOFOPT = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

const TWO32 = 4294967296;
/** Carry buffers above this size are released after use so one huge block does not pin memory. */
const CARRY_KEEP = 1024 * 1024;
const CARRY_INITIAL = 64 * 1024;

// How an interface's timestamp units are turned into microseconds (see Iface.tsToUs).
const TS_US = 0; // 10^-6: the value itself
const TS_MUL = 1; // 10^-k, k < 6: value * 10^(6-k)
const TS_DIV = 2; // 10^-k, 6 < k <= 12: split division by d = 10^(k-6) <= 10^6
const TS_BIN_LO = 3; // 2^-k, k <= 32
const TS_BIN_HI = 4; // 2^-k, 32 < k <= 52
const TS_BIG = 5; // anything finer: BigInt

/** 32-bit reads of a record header already known to be in `buf` (per packet: no bound checks). */
function le32(buf: Buffer, at: number): number {
  return (buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16) | (buf[at + 3] << 24)) >>> 0;
}

function be32(buf: Buffer, at: number): number {
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

function hex(buf: Buffer, start: number, end: number): string {
  const parts: string[] = [];
  for (let i = start; i < end; i++) parts.push(buf[i].toString(16).padStart(2, '0'));
  return parts.join(' ');
}

function hex32(v: number): string {
  return '0x' + v.toString(16).padStart(8, '0');
}

/** One pcapng Interface Description Block as the packet blocks need it. */
class Iface {
  linkType: number;
  snaplen: number;
  tsKind = TS_US;
  /** TS_MUL: multiplier; TS_DIV: divisor; TS_BIN_LO: 1e6 * 2^(32-k); TS_BIN_HI: 2^(k-32). */
  tsA = 1;
  /** TS_BIN_LO / TS_BIN_HI: 2^k. */
  tsB = 1;
  /** if_tsoffset in µs. */
  offsetUs = 0;
  bigMul = 1n;
  bigDiv = 1n;

  constructor(linkType: number, snaplen: number) {
    this.linkType = linkType;
    this.snaplen = snaplen;
  }

  setResolution(v: number): void {
    const k = v & 0x7f;
    if ((v & 0x80) === 0) {
      if (k === 6) {
        this.tsKind = TS_US;
      } else if (k < 6) {
        this.tsKind = TS_MUL;
        this.tsA = 10 ** (6 - k);
      } else if (k <= 12) {
        this.tsKind = TS_DIV;
        this.tsA = 10 ** (k - 6);
      } else {
        this.tsKind = TS_BIG;
        this.bigMul = 1n;
        this.bigDiv = 10n ** BigInt(k - 6);
      }
    } else if (k <= 32) {
      this.tsKind = TS_BIN_LO;
      this.tsA = 1e6 * 2 ** (32 - k);
      this.tsB = 2 ** k;
    } else if (k <= 52) {
      this.tsKind = TS_BIN_HI;
      this.tsA = 2 ** (k - 32);
      this.tsB = 2 ** k;
    } else {
      this.tsKind = TS_BIG;
      this.bigMul = 1000000n;
      this.bigDiv = 2n ** BigInt(k);
    }
  }

  /**
   * Converts a 64-bit timestamp given as two 32-bit words into µs since the epoch (floor), exactly
   * as long as the result fits in 2^53. Plain-number arithmetic is used except for resolutions
   * finer than 10^-12 s or 2^-52 s.
   */
  tsToUs(hi: number, lo: number): number {
    switch (this.tsKind) {
      case TS_US:
        return hi * TWO32 + lo + this.offsetUs;
      case TS_DIV: {
        // floor((hi*2^32 + lo) / d) = floor(hi/d)*2^32 + floor(((hi mod d)*2^32 + lo) / d).
        // The second numerator is < d*2^32 <= 2^53 (exact) and the quotient is < 2^32, where half
        // an ulp (<= 2^-22) is below the 1/d >= 10^-6 gap to the next integer: floor is exact.
        const d = this.tsA;
        const qh = Math.floor(hi / d);
        const rh = hi - qh * d;
        return qh * TWO32 + Math.floor((rh * TWO32 + lo) / d) + this.offsetUs;
      }
      case TS_MUL:
        return (hi * TWO32 + lo) * this.tsA + this.offsetUs;
      case TS_BIN_LO:
        // value * 1e6 / 2^k = hi * 1e6 * 2^(32-k) + lo * 1e6 / 2^k; every step is exact.
        return hi * this.tsA + Math.floor((lo * 1e6) / this.tsB) + this.offsetUs;
      case TS_BIN_HI: {
        // With s = k - 32 and A = hi*1e6 = qa*2^s + ra:
        // floor((A*2^32 + lo*1e6) / 2^k) = qa + floor((ra*2^32 + lo*1e6) / 2^k), numerator < 2^53.
        const a = hi * 1e6;
        const qa = Math.floor(a / this.tsA);
        const ra = a - qa * this.tsA;
        return qa + Math.floor((ra * TWO32 + lo * 1e6) / this.tsB) + this.offsetUs;
      }
      default: {
        const v = (BigInt(hi) << 32n) | BigInt(lo);
        return Number((v * this.bigMul) / this.bigDiv) + this.offsetUs;
      }
    }
  }
}

/**
 * The packet handed to the handler: the frame stays in the chunk (`buffer` at `offset`), and the
 * `data` view is made only when read, so the decoder's path allocates nothing per packet.
 */
class ReaderPacket implements CapturedPacket {
  tsUs = 0;
  linkType = 0;
  interfaceId = 0;
  capLen = 0;
  origLen = 0;
  buffer: Buffer = Buffer.alloc(0);
  offset = 0;

  get data(): Buffer {
    return this.buffer.subarray(this.offset, this.offset + this.capLen);
  }
}

/**
 * Push parser for pcap / pcapng byte streams.
 *
 * ```ts
 * const reader = new CaptureReader((p) => decode(p));
 * for await (const chunk of stream) reader.feed(chunk);
 * reader.end();
 * ```
 *
 * `feed` and `end` throw {@link CaptureFormatError}; frames delivered before the error stay
 * delivered. After an error (or an exception thrown by the handler) the reader is unusable and
 * rethrows the same error.
 */
export class CaptureReader {
  /** Live counters; the object is updated in place. */
  readonly stats: CaptureReaderStats = { packets: 0, bytes: 0, blocksSkipped: 0, bytesConsumed: 0 };

  private readonly onPacket: PacketHandler;
  private readonly pkt = new ReaderPacket();

  private fmt = FMT_NONE;
  /** Byte order of the current pcap file / pcapng section. */
  private le = true;
  /** Bytes needed at the start of a record to know its length. */
  private need = 4;

  // classic pcap
  private pcapHeaderDone = false;
  private pcapNano = false;
  private pcapLinkType = 0;

  // pcapng
  private ifaces: Iface[] = [];
  private lastTsUs = 0;

  // bytes of the record that straddles chunks
  private carry: Buffer | null = null;
  private carryLen = 0;

  private failure: unknown = null;
  private ended = false;

  constructor(onPacket: PacketHandler) {
    this.onPacket = onPacket;
  }

  /** Detected format, once the first 4 bytes have been seen. */
  get format(): CaptureFormat | undefined {
    return this.fmt === FMT_PCAP ? 'pcap' : this.fmt === FMT_PCAPNG ? 'pcapng' : undefined;
  }

  /** Parses every complete record of `chunk` (plus the record carried over from earlier chunks). */
  feed(chunk: Buffer): void {
    if (this.failure !== null) throw this.failure;
    if (this.ended) throw new Error('CaptureReader.feed() called after end()');
    try {
      let off = 0;
      if (this.carryLen > 0) {
        off = this.fillCarry(chunk);
        if (off < 0) return;
      }
      const end = chunk.length;
      off = this.run(chunk, off, end);
      if (off < end) this.stash(chunk, off, end);
    } catch (err) {
      this.failure = err;
      throw err;
    }
  }

  /** Signals the end of input; throws if the input was empty or stopped inside a record. */
  end(): void {
    if (this.failure !== null) throw this.failure;
    if (this.ended) return;
    this.ended = true;
    let err: CaptureFormatError | null = null;
    const at = this.stats.bytesConsumed;
    if (this.fmt === FMT_NONE) {
      err =
        this.carryLen === 0
          ? new CaptureFormatError('not a pcap or pcapng capture (the input is empty)', 0)
          : new CaptureFormatError(
              `not a pcap or pcapng capture (only ${this.carryLen} byte(s): ${hex(this.carry as Buffer, 0, this.carryLen)})`,
              0,
            );
    } else if (this.carryLen > 0) {
      const carry = this.carry as Buffer;
      const total = this.carryLen >= this.need ? this.recordLength(carry, 0) : -1;
      const of = total >= 0 ? `${this.carryLen} of ${total}` : `${this.carryLen} of at least ${this.need}`;
      err = new CaptureFormatError(
        `capture is cut mid-record at byte ${at} (${of} bytes of the record present)`,
        at,
      );
    }
    this.carry = null;
    this.carryLen = 0;
    if (err !== null) {
      this.failure = err;
      throw err;
    }
  }

  // ---------------------------------------------------------------- chunk plumbing

  /** Processes the complete records in buf[off, end); returns the offset of the first incomplete one. */
  private run(buf: Buffer, off: number, end: number): number {
    while (true) {
      const avail = end - off;
      if (avail < this.need) return off;
      if (this.fmt === FMT_NONE) {
        this.detect(buf, off);
        continue;
      }
      const len = this.recordLength(buf, off);
      if (avail < len) return off;
      if (this.fmt === FMT_PCAP) this.pcapRecord(buf, off, len);
      else this.pcapngBlock(buf, off, len);
      this.stats.bytesConsumed += len;
      off += len;
    }
  }

  /**
   * Tops up the carried partial record from the head of `chunk` and processes it once complete.
   * Returns the chunk offset after the bytes taken, or -1 when the chunk was used up.
   */
  private fillCarry(chunk: Buffer): number {
    let pos = 0;
    while (true) {
      const need = this.need;
      if (this.carryLen < need) {
        pos = this.takeInto(chunk, pos, need);
        if (this.carryLen < need) return -1;
      }
      const carry = this.carry as Buffer;
      if (this.fmt === FMT_NONE) {
        this.detect(carry, 0);
        continue;
      }
      const len = this.recordLength(carry, 0);
      if (this.carryLen < len) {
        this.reserve(len);
        pos = this.takeInto(chunk, pos, len);
        if (this.carryLen < len) return -1;
      }
      const rec = this.carry as Buffer;
      if (this.fmt === FMT_PCAP) this.pcapRecord(rec, 0, len);
      else this.pcapngBlock(rec, 0, len);
      this.stats.bytesConsumed += len;
      this.carryLen = 0;
      if (rec.length > CARRY_KEEP) this.carry = null;
      return pos;
    }
  }

  /** Copies bytes from chunk[pos...] into the carry until it holds `upTo` bytes; returns the new pos. */
  private takeInto(chunk: Buffer, pos: number, upTo: number): number {
    const n = Math.min(upTo - this.carryLen, chunk.length - pos);
    if (n <= 0) return pos;
    this.reserve(upTo);
    chunk.copy(this.carry as Buffer, this.carryLen, pos, pos + n);
    this.carryLen += n;
    return pos + n;
  }

  /** Keeps buf[off, end), the head of a record, for the next chunk. */
  private stash(buf: Buffer, off: number, end: number): void {
    // run() stopped at an incomplete record, so this is less than one (validated) record.
    this.reserve(end - off);
    buf.copy(this.carry as Buffer, 0, off, end);
    this.carryLen = end - off;
  }

  /** Makes the carry buffer hold at least `size` bytes, keeping its current content. */
  private reserve(size: number): void {
    const cur = this.carry;
    if (cur !== null && cur.length >= size) return;
    let cap = cur === null ? CARRY_INITIAL : cur.length;
    while (cap < size) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    if (cur !== null && this.carryLen > 0) cur.copy(next, 0, 0, this.carryLen);
    this.carry = next;
  }

  // ---------------------------------------------------------------- format detection and lengths

  private detect(buf: Buffer, off: number): void {
    const be = buf.readUInt32BE(off);
    const le = buf.readUInt32LE(off);
    if (be === BT_SHB) {
      this.fmt = FMT_PCAPNG;
      this.need = PCAPNG_BLOCK_HEADER;
    } else if (be === MAGIC_PCAP_US || be === MAGIC_PCAP_NS || le === MAGIC_PCAP_US || le === MAGIC_PCAP_NS) {
      this.fmt = FMT_PCAP;
      this.le = le === MAGIC_PCAP_US || le === MAGIC_PCAP_NS;
      this.pcapNano = (this.le ? le : be) === MAGIC_PCAP_NS;
      this.need = PCAP_GLOBAL_HEADER;
    } else {
      throw new CaptureFormatError(`not a pcap or pcapng capture (first bytes ${hex(buf, off, off + 4)})`, 0);
    }
  }

  /** Total length of the record at `off` (at least `this.need` bytes are present); validates it. */
  private recordLength(buf: Buffer, off: number): number {
    if (this.fmt === FMT_PCAP) {
      if (!this.pcapHeaderDone) return PCAP_GLOBAL_HEADER;
      const incl = this.le ? le32(buf, off + 8) : be32(buf, off + 8);
      if (incl > MAX_PCAP_RECORD) {
        throw new CaptureFormatError(
          `pcap record at byte ${this.stats.bytesConsumed} claims ${incl} captured bytes ` +
            `(more than the ${MAX_PCAP_RECORD}-byte limit; corrupt file?)`,
          this.stats.bytesConsumed,
        );
      }
      return PCAP_RECORD_HEADER + incl;
    }
    let le = this.le;
    const type = le ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
    if (type === BT_SHB) {
      // A section header fixes the byte order of everything in it, including its own length.
      const bom = buf.readUInt32LE(off + 8);
      if (bom === PCAPNG_BOM) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else {
        throw new CaptureFormatError(
          `pcapng section header block at byte ${this.stats.bytesConsumed} has an invalid byte-order magic ` +
            `(bytes ${hex(buf, off + 8, off + 12)}, expected 1a 2b 3c 4d or 4d 3c 2b 1a)`,
          this.stats.bytesConsumed,
        );
      }
    }
    const len = le ? buf.readUInt32LE(off + 4) : buf.readUInt32BE(off + 4);
    if (len < 12 || (len & 3) !== 0 || len > MAX_PCAPNG_BLOCK) {
      const why = len > MAX_PCAPNG_BLOCK ? `larger than the ${MAX_PCAPNG_BLOCK}-byte limit` : 'must be a multiple of 4 and at least 12';
      throw new CaptureFormatError(
        `pcapng block at byte ${this.stats.bytesConsumed} (type ${hex32(type)}) has an invalid total length ${len} (${why})`,
        this.stats.bytesConsumed,
      );
    }
    return len;
  }

  // ---------------------------------------------------------------- classic pcap

  private pcapRecord(buf: Buffer, off: number, len: number): void {
    if (!this.pcapHeaderDone) {
      this.pcapGlobalHeader(buf, off);
      return;
    }
    const le = this.le;
    const sec = le ? le32(buf, off) : be32(buf, off);
    const frac = le ? le32(buf, off + 4) : be32(buf, off + 4);
    const orig = le ? le32(buf, off + 12) : be32(buf, off + 12);
    const capLen = len - PCAP_RECORD_HEADER;
    const p = this.pkt;
    p.tsUs = sec * 1e6 + (this.pcapNano ? Math.floor(frac / 1000) : frac);
    p.linkType = this.pcapLinkType;
    p.interfaceId = 0;
    p.capLen = capLen;
    p.origLen = orig;
    p.buffer = buf;
    p.offset = off + PCAP_RECORD_HEADER;
    this.stats.packets++;
    this.stats.bytes += capLen;
    this.onPacket(p);
  }

  private pcapGlobalHeader(buf: Buffer, off: number): void {
    // magic(4) version_major(2) version_minor(2) thiszone(4) sigfigs(4) snaplen(4) linktype(4)
    const lt = this.le ? buf.readUInt32LE(off + 20) : buf.readUInt32BE(off + 20);
    // The upper 16 bits carry the FCS-length / flag bits (and reserved bits), not the link type.
    this.pcapLinkType = lt & 0xffff;
    this.pcapHeaderDone = true;
    this.need = PCAP_RECORD_HEADER;
  }

  // ---------------------------------------------------------------- pcapng

  private pcapngBlock(buf: Buffer, off: number, len: number): void {
    const le = this.le;
    const type = le ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
    if (type === BT_SHB) {
      // The byte order may change here; recordLength() read the length in the new order.
      this.le = buf.readUInt32LE(off + 8) === PCAPNG_BOM;
    }
    const trailer = this.le ? buf.readUInt32LE(off + len - 4) : buf.readUInt32BE(off + len - 4);
    if (trailer !== len) {
      throw new CaptureFormatError(
        `pcapng block at byte ${this.stats.bytesConsumed} (type ${hex32(type)}) has a trailing length ${trailer} ` +
          `that differs from its leading length ${len}`,
        this.stats.bytesConsumed,
      );
    }
    if (type === BT_EPB) this.enhancedPacket(buf, off, len);
    else if (type === BT_SPB) this.simplePacket(buf, off, len);
    else if (type === BT_IDB) this.interfaceDescription(buf, off, len);
    else if (type === BT_SHB) this.sectionHeader(len);
    else if (type === BT_PB) this.obsoletePacket(buf, off, len);
    else this.stats.blocksSkipped++;
  }

  private tooShort(name: string, len: number, min: number): never {
    throw new CaptureFormatError(
      `pcapng ${name} at byte ${this.stats.bytesConsumed} is ${len} bytes long, less than the minimum ${min}`,
      this.stats.bytesConsumed,
    );
  }

  private iface(id: number, name: string): Iface {
    const ifc = this.ifaces[id];
    if (ifc === undefined) {
      throw new CaptureFormatError(
        `pcapng ${name} at byte ${this.stats.bytesConsumed} refers to interface ${id}, ` +
          `but the section describes ${this.ifaces.length} interface(s)`,
        this.stats.bytesConsumed,
      );
    }
    return ifc;
  }

  private sectionHeader(len: number): void {
    // type(4) len(4) bom(4) major(2) minor(2) section_length(8) options... len(4)
    if (len < 28) this.tooShort('section header block', len, 28);
    this.ifaces = [];
  }

  private interfaceDescription(buf: Buffer, off: number, len: number): void {
    // type(4) len(4) linktype(2) reserved(2) snaplen(4) options... len(4)
    if (len < 20) this.tooShort('interface description block', len, 20);
    const le = this.le;
    const linkType = le ? buf.readUInt16LE(off + 8) : buf.readUInt16BE(off + 8);
    const snaplen = le ? buf.readUInt32LE(off + 12) : buf.readUInt32BE(off + 12);
    const ifc = new Iface(linkType, snaplen);
    const end = off + len - 4;
    let o = off + 16;
    while (o + 4 <= end) {
      const code = le ? buf.readUInt16LE(o) : buf.readUInt16BE(o);
      const olen = le ? buf.readUInt16LE(o + 2) : buf.readUInt16BE(o + 2);
      if (code === OPT_ENDOFOPT) break;
      const v = o + 4;
      if (v + olen > end) {
        throw new CaptureFormatError(
          `pcapng interface description block at byte ${this.stats.bytesConsumed}: option ${code} ` +
            `(${olen} bytes) runs past the end of the block`,
          this.stats.bytesConsumed,
        );
      }
      if (code === OPT_IF_TSRESOL && olen >= 1) {
        ifc.setResolution(buf[v]);
      } else if (code === OPT_IF_TSOFFSET && olen >= 8) {
        const hi = le ? buf.readInt32LE(v + 4) : buf.readInt32BE(v);
        const lo = le ? buf.readUInt32LE(v) : buf.readUInt32BE(v + 4);
        ifc.offsetUs = (hi * TWO32 + lo) * 1e6;
      }
      o = v + ((olen + 3) & ~3);
    }
    this.ifaces.push(ifc);
  }

  private enhancedPacket(buf: Buffer, off: number, len: number): void {
    // type(4) len(4) if_id(4) ts_hi(4) ts_lo(4) cap_len(4) orig_len(4) data(pad 4) options... len(4)
    if (len < 32) this.tooShort('enhanced packet block', len, 32);
    const le = this.le;
    const id = le ? buf.readUInt32LE(off + 8) : buf.readUInt32BE(off + 8);
    const hi = le ? buf.readUInt32LE(off + 12) : buf.readUInt32BE(off + 12);
    const lo = le ? buf.readUInt32LE(off + 16) : buf.readUInt32BE(off + 16);
    const capLen = le ? buf.readUInt32LE(off + 20) : buf.readUInt32BE(off + 20);
    const orig = le ? buf.readUInt32LE(off + 24) : buf.readUInt32BE(off + 24);
    this.deliver(buf, off, len, 28, id, hi, lo, capLen, orig, 'enhanced packet block');
  }

  private obsoletePacket(buf: Buffer, off: number, len: number): void {
    // type(4) len(4) if_id(2) drops(2) ts_hi(4) ts_lo(4) cap_len(4) orig_len(4) data(pad 4) options... len(4)
    if (len < 32) this.tooShort('packet block', len, 32);
    const le = this.le;
    const id = le ? buf.readUInt16LE(off + 8) : buf.readUInt16BE(off + 8);
    const hi = le ? buf.readUInt32LE(off + 12) : buf.readUInt32BE(off + 12);
    const lo = le ? buf.readUInt32LE(off + 16) : buf.readUInt32BE(off + 16);
    const capLen = le ? buf.readUInt32LE(off + 20) : buf.readUInt32BE(off + 20);
    const orig = le ? buf.readUInt32LE(off + 24) : buf.readUInt32BE(off + 24);
    this.deliver(buf, off, len, 28, id, hi, lo, capLen, orig, 'packet block');
  }

  private deliver(
    buf: Buffer,
    off: number,
    len: number,
    dataAt: number,
    id: number,
    hi: number,
    lo: number,
    capLen: number,
    orig: number,
    name: string,
  ): void {
    const ifc = this.iface(id, name);
    if (capLen > len - dataAt - 4) {
      throw new CaptureFormatError(
        `pcapng ${name} at byte ${this.stats.bytesConsumed} has a captured length of ${capLen} ` +
          `that does not fit in its ${len}-byte block`,
        this.stats.bytesConsumed,
      );
    }
    const ts = ifc.tsToUs(hi, lo);
    this.lastTsUs = ts;
    const p = this.pkt;
    p.tsUs = ts;
    p.linkType = ifc.linkType;
    p.interfaceId = id;
    p.capLen = capLen;
    p.origLen = orig;
    p.buffer = buf;
    p.offset = off + dataAt;
    this.stats.packets++;
    this.stats.bytes += capLen;
    this.onPacket(p);
  }

  private simplePacket(buf: Buffer, off: number, len: number): void {
    // type(4) len(4) orig_len(4) data(pad 4) len(4); interface 0, no timestamp.
    if (len < 16) this.tooShort('simple packet block', len, 16);
    const ifc = this.iface(0, 'simple packet block');
    const orig = this.le ? buf.readUInt32LE(off + 8) : buf.readUInt32BE(off + 8);
    let capLen = Math.min(orig, len - 16);
    if (ifc.snaplen !== 0 && ifc.snaplen < capLen) capLen = ifc.snaplen;
    const p = this.pkt;
    p.tsUs = this.lastTsUs;
    p.linkType = ifc.linkType;
    p.interfaceId = 0;
    p.capLen = capLen;
    p.origLen = orig;
    p.buffer = buf;
    p.offset = off + 12;
    this.stats.packets++;
    this.stats.bytes += capLen;
    this.onPacket(p);
  }
}

/**
 * Opens a capture file for {@link readCapture}. The 1 MiB highWaterMark (instead of the 64 KiB
 * default) cuts the number of chunks, and so the per-chunk overhead and the number of records that
 * straddle chunks and must be copied, by 16x.
 */
export function openCaptureFile(path: string): fs.ReadStream {
  return fs.createReadStream(path, { highWaterMark: 1024 * 1024 });
}

/**
 * The bytes of a file in chunks read into two buffers used in turn: the next chunk is read while
 * the caller works on this one, and nothing is allocated per chunk (a read stream allocates a
 * new buffer for each, which at a few hundred MB/s keeps the garbage collector busy). A chunk is
 * valid until the loop asks for the next one, which is what {@link CaptureReader.feed} needs.
 */
export async function* readFileChunks(path: string, chunkBytes = 1024 * 1024): AsyncGenerator<Buffer, void, undefined> {
  const file = await fs.promises.open(path, 'r');
  const buffers = [Buffer.allocUnsafe(chunkBytes), Buffer.allocUnsafe(chunkBytes)];
  let next = 0;
  let pending = file.read(buffers[0], 0, chunkBytes, null);
  try {
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) return;
      const chunk = buffers[next].subarray(0, bytesRead);
      next ^= 1;
      pending = file.read(buffers[next], 0, chunkBytes, null);
      yield chunk;
    }
  } finally {
    // A read may still be running when the caller stops early.
    await pending.catch(() => undefined);
    await file.close();
  }
}

/**
 * Streams `input` (a file from {@link openCaptureFile}, or process.stdin for `tcpdump -w -`)
 * through a {@link CaptureReader}. Resolves with the final counters; rejects with the
 * {@link CaptureFormatError} (or the stream's own error, or an error thrown by `onPacket`).
 * Frames delivered before a rejection stay delivered. `onProgress` gets the bytes consumed so
 * far after each chunk.
 */
export async function readCapture(
  input: NodeJS.ReadableStream,
  onPacket: PacketHandler,
  onProgress?: (bytesConsumed: number) => void,
): Promise<CaptureReaderStats> {
  const reader = new CaptureReader(onPacket);
  // for-await destroys the stream when the loop exits early by an exception.
  for await (const chunk of input) {
    if (typeof chunk === 'string') {
      throw new TypeError('readCapture() needs a binary stream (no encoding set on the input)');
    }
    reader.feed(chunk);
    if (onProgress !== undefined) onProgress(reader.stats.bytesConsumed);
  }
  reader.end();
  return { ...reader.stats };
}
