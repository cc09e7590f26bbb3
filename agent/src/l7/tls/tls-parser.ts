/**
 * TLS handshake metadata (SPEC §4): one record per connection handshake. protocol 'tls',
 * request_type 'handshake', request_domain = endpoint = SNI, version from the ServerHello
 * (supported_versions extension for TLS 1.3, else the legacy version), attributes for the cipher
 * suite and ALPN offered/selected. Nothing after the handshake is parsed (it is encrypted).
 *
 * Timing rule: requestTimeUs = the feed that completed the ClientHello. responseTimeUs = the end
 * of the handshake as seen on the wire:
 *  - TLS 1.2 and older: the feed carrying the server's Finished (the first server handshake
 *    record after the server's ChangeCipherSpec; full and abbreviated handshakes alike);
 *  - TLS 1.3: the feed that completed the ServerHello (what follows is encrypted, so the
 *    ServerHello is the last handshake message we can see; a HelloRetryRequest does not end it);
 *  - a fatal alert before that: the feed carrying the alert, status server_error, responseCode
 *    = alert description;
 *  - flow closed or expired after the ServerHello but before the end: the last server handshake
 *    message seen, status ok, attribute tls.handshake_complete = 'false'; before any ServerHello:
 *    status timeout.
 *
 * Record layer (RFC 8446 §5.1, RFC 5246 §6.2): content types 20–24, versions 0x0300–0x0304, record
 * payloads streamed (never buffered whole); handshake messages reassembled across records and
 * feeds up to maxBufferBytes (larger messages, e.g. long certificate chains, are skipped).
 */
import { Direction, L7Parser, L7ProtocolModule, L7Record, ParserOptions, ParserStats, Verdict } from '../l7-parser';

const DEFAULT_MAX_BUFFER = 64 * 1024;
const MAX_RECORD = (1 << 14) + 2048;

const CT_CCS = 20;
const CT_ALERT = 21;
const CT_HANDSHAKE = 22;
const CT_APPDATA = 23;
const CT_HEARTBEAT = 24;

const HT_CLIENT_HELLO = 1;
const HT_SERVER_HELLO = 2;

/** ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3). */
const HRR_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

const ALERTS: Record<number, string> = {
  0: 'close_notify', 10: 'unexpected_message', 20: 'bad_record_mac', 21: 'decryption_failed', 22: 'record_overflow',
  30: 'decompression_failure', 40: 'handshake_failure', 41: 'no_certificate', 42: 'bad_certificate',
  43: 'unsupported_certificate', 44: 'certificate_revoked', 45: 'certificate_expired', 46: 'certificate_unknown',
  47: 'illegal_parameter', 48: 'unknown_ca', 49: 'access_denied', 50: 'decode_error', 51: 'decrypt_error',
  60: 'export_restriction', 70: 'protocol_version', 71: 'insufficient_security', 80: 'internal_error',
  86: 'inappropriate_fallback', 90: 'user_canceled', 100: 'no_renegotiation', 109: 'missing_extension',
  110: 'unsupported_extension', 111: 'certificate_unobtainable', 112: 'unrecognized_name',
  113: 'bad_certificate_status_response', 114: 'bad_certificate_hash_value', 115: 'unknown_psk_identity',
  116: 'certificate_required', 120: 'no_application_protocol',
};

const CIPHERS: Record<number, string> = {
  0x002f: 'TLS_RSA_WITH_AES_128_CBC_SHA', 0x0035: 'TLS_RSA_WITH_AES_256_CBC_SHA',
  0x009c: 'TLS_RSA_WITH_AES_128_GCM_SHA256', 0x009d: 'TLS_RSA_WITH_AES_256_GCM_SHA384',
  0xc009: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA', 0xc00a: 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA',
  0xc013: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', 0xc014: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
  0xc027: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256', 0xc028: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384',
  0xc02b: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 0xc02c: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  0xc02f: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 0xc030: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  0xcca8: 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 0xcca9: 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  0x1301: 'TLS_AES_128_GCM_SHA256', 0x1302: 'TLS_AES_256_GCM_SHA384', 0x1303: 'TLS_CHACHA20_POLY1305_SHA256',
  0x1304: 'TLS_AES_128_CCM_SHA256', 0x1305: 'TLS_AES_128_CCM_8_SHA256',
};

export function versionName(v: number): string {
  if (v === 0x0300) return 'SSL 3.0';
  if (v >= 0x0301 && v <= 0x0304) return `TLS 1.${v - 0x0301}`;
  if (v >> 8 === 0x7f) return 'TLS 1.3';
  return '';
}

const hex4 = (v: number): string => '0x' + v.toString(16).padStart(4, '0');
const isGrease = (v: number): boolean => (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);
const isTls13 = (v: number): boolean => v === 0x0304 || v >> 8 === 0x7f;

export function alertName(d: number): string {
  return ALERTS[d] ?? `alert_${d}`;
}

/** A record header at `off`: known content type, version 3.0–3.4, length within the TLS limit. */
function recordHeader(b: Buffer, off: number): boolean {
  if (off + 5 > b.length) return false;
  const t = b[off];
  if (t < CT_CCS || t > CT_HEARTBEAT) return false;
  if (b[off + 1] !== 3 || b[off + 2] > 4) return false;
  const len = b.readUInt16BE(off + 3);
  return len > 0 && len <= MAX_RECORD;
}

export interface ClientHelloInfo {
  legacyVersion: number;
  sni: string;
  alpn: string[];
  versions: number[];
}

export interface ServerHelloInfo {
  legacyVersion: number;
  version: number;
  cipher: number;
  alpn: string;
  hrr: boolean;
}

/** Walks the extensions block `b[off, end)`, calling `fn(type, start, end)`; false when malformed. */
function walkExtensions(b: Buffer, off: number, end: number, fn: (type: number, s: number, e: number) => void): boolean {
  if (off === end) return true;
  if (off + 2 > end) return false;
  const total = b.readUInt16BE(off);
  let p = off + 2;
  const stop = p + total;
  if (stop > end) return false;
  while (p + 4 <= stop) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    if (p + 4 + len > stop) return false;
    fn(type, p + 4, p + 4 + len);
    p += 4 + len;
  }
  return p === stop;
}

function printable(b: Buffer, s: number, e: number): string {
  let out = '';
  for (let i = s; i < e; i++) out += b[i] >= 0x20 && b[i] < 0x7f ? String.fromCharCode(b[i]) : '?';
  return out;
}

/** ClientHello body (RFC 8446 §4.1.2 / RFC 5246 §7.4.1.2). */
export function parseClientHello(b: Buffer): ClientHelloInfo | undefined {
  let p = 0;
  if (b.length < 2 + 32 + 1) return undefined;
  const legacyVersion = b.readUInt16BE(0);
  p = 34;
  const sid = b[p];
  if (sid > 32) return undefined;
  p += 1 + sid;
  if (p + 2 > b.length) return undefined;
  const cs = b.readUInt16BE(p);
  p += 2 + cs;
  if (p + 1 > b.length) return undefined;
  p += 1 + b[p];
  if (p > b.length) return undefined;
  const info: ClientHelloInfo = { legacyVersion, sni: '', alpn: [], versions: [] };
  const ok = walkExtensions(b, p, b.length, (type, s, e) => {
    if (type === 0 && s + 2 <= e) {
      // server_name (RFC 6066 §3): list of (type, length, name); host_name is type 0.
      let q = s + 2;
      const stop = Math.min(e, s + 2 + b.readUInt16BE(s));
      while (q + 3 <= stop) {
        const nt = b[q];
        const nl = b.readUInt16BE(q + 1);
        if (q + 3 + nl > stop) break;
        if (nt === 0 && info.sni === '') info.sni = printable(b, q + 3, q + 3 + nl);
        q += 3 + nl;
      }
    } else if (type === 16 && s + 2 <= e) {
      // ALPN (RFC 7301): list of length-prefixed protocol names.
      let q = s + 2;
      const stop = Math.min(e, s + 2 + b.readUInt16BE(s));
      while (q + 1 <= stop && info.alpn.length < 32) {
        const l = b[q];
        if (q + 1 + l > stop || l === 0) break;
        info.alpn.push(printable(b, q + 1, q + 1 + l));
        q += 1 + l;
      }
    } else if (type === 43 && s + 1 <= e) {
      const stop = Math.min(e, s + 1 + b[s]);
      for (let q = s + 1; q + 2 <= stop; q += 2) {
        const v = b.readUInt16BE(q);
        if (!isGrease(v)) info.versions.push(v);
      }
    }
  });
  return ok ? info : undefined;
}

/** ServerHello body. */
export function parseServerHello(b: Buffer): ServerHelloInfo | undefined {
  if (b.length < 2 + 32 + 1) return undefined;
  const legacyVersion = b.readUInt16BE(0);
  const hrr = b.subarray(2, 34).equals(HRR_RANDOM);
  let p = 34;
  // TLS 1.3 drafts (0x7fXX, before draft 22) had neither session id nor compression method.
  const draft = legacyVersion >> 8 === 0x7f;
  if (!draft) {
    const sid = b[p];
    if (sid > 32) return undefined;
    p += 1 + sid;
  }
  if (p + (draft ? 2 : 3) > b.length) return undefined;
  const cipher = b.readUInt16BE(p);
  p += draft ? 2 : 3; // cipher suite (and compression method)
  const info: ServerHelloInfo = { legacyVersion, version: legacyVersion, cipher, alpn: '', hrr };
  const ok = walkExtensions(b, p, b.length, (type, s, e) => {
    if (type === 43 && s + 2 <= e) info.version = b.readUInt16BE(s);
    else if (type === 16 && s + 3 <= e) {
      const l = b[s + 2];
      if (s + 3 + l <= e) info.alpn = printable(b, s + 3, s + 3 + l);
    }
  });
  return ok ? info : undefined;
}

interface Side {
  /** Partial record header. */
  hdr: Buffer;
  /** Content type and bytes left of the current record (0: expecting a header). */
  type: number;
  left: number;
  /** Handshake stream bytes (reassembled across records). */
  hs: Buffer;
  /** Bytes of an oversized handshake message still to drop. */
  hsSkip: number;
  /** Alert bytes collected (2 when complete). */
  alert: number[];
  /** ChangeCipherSpec seen: handshake records after it are encrypted. */
  ccs: boolean;
  /** Record boundary known (start of stream or after a parsed record). */
  synced: boolean;
}

const newSide = (): Side => ({ hdr: Buffer.alloc(0), type: 0, left: 0, hs: Buffer.alloc(0), hsSkip: 0, alert: [], ccs: false, synced: false });

class TlsParser implements L7Parser {
  readonly protocol = 'tls' as const;
  /** Records are read in place; a cut record header and an unfinished handshake message are copied; what it learns is text and numbers. */
  readonly copiesInput = true;
  readonly stats: ParserStats = { messages: 0, bytesSkipped: 0, parseErrors: 0 };
  private readonly sides: [Side, Side] = [newSide(), newSide()];
  private out: L7Record[] = [];
  private readonly maxBuffer: number;
  private done = false;
  private ch?: ClientHelloInfo;
  private chTs?: number;
  private chLen = -1;
  private sh?: ServerHelloInfo;
  private shTs?: number;
  private serverBytes = 0;
  private lastServerHsTs?: number;
  private hrr = false;

  constructor(options: ParserOptions) {
    this.maxBuffer = Math.max(1024, options.maxBufferBytes ?? DEFAULT_MAX_BUFFER);
  }

  feed(direction: Direction, data: Buffer, tsUs: number): void {
    if (this.done || data.length === 0) return;
    const side = this.sides[direction];
    if (side.hdr.length > 0) {
      // A record header (or, while resyncing, a possible one) cut by the previous feed.
      data = Buffer.concat([side.hdr, data]);
      side.hdr = Buffer.alloc(0);
    }
    let p = 0;
    while (p < data.length && !this.done) {
      if (side.left > 0) {
        const n = Math.min(side.left, data.length - p);
        this.recordPayload(direction, side, data.subarray(p, p + n), tsUs);
        side.left -= n;
        p += n;
        if (side.left === 0) this.endRecord(direction, side, tsUs);
        continue;
      }
      if (data.length - p < 5) {
        side.hdr = Buffer.from(data.subarray(p));
        return;
      }
      if (recordHeader(data, p)) {
        this.startRecord(side, data.subarray(p, p + 5));
        p += 5;
        continue;
      }
      // Not a record boundary (mid-stream start, gap, garbage): resync at the next plausible header.
      if (side.synced) this.stats.parseErrors++;
      side.synced = false;
      let q = p + 1;
      while (q + 5 <= data.length && !recordHeader(data, q)) q++;
      if (q + 5 > data.length) q = Math.max(p + 1, data.length - 4);
      this.stats.bytesSkipped += q - p;
      p = q;
    }
  }

  private startRecord(side: Side, hdr: Buffer): void {
    side.type = hdr[0];
    side.left = hdr.readUInt16BE(3);
    side.synced = true;
    side.alert = [];
  }

  private recordPayload(direction: Direction, side: Side, chunk: Buffer, tsUs: number): void {
    if (direction === 1) this.serverBytes += chunk.length;
    if (side.type === CT_HANDSHAKE) {
      if (side.ccs) return; // encrypted (Finished)
      this.handshakeBytes(direction, side, chunk, tsUs);
    } else if (side.type === CT_ALERT) {
      for (let i = 0; i < chunk.length && side.alert.length < 3; i++) side.alert.push(chunk[i]);
    }
  }

  private endRecord(direction: Direction, side: Side, tsUs: number): void {
    this.stats.messages++;
    if (side.type === CT_CCS) {
      // In TLS 1.3 a ChangeCipherSpec is a compatibility no-op (RFC 8446 §D.4): the client may
      // send one before its second ClientHello after a HelloRetryRequest.
      if (!(this.sh && isTls13(this.sh.version))) side.ccs = true;
    } else if (side.type === CT_HANDSHAKE && side.ccs) {
      if (direction === 1 && (this.ch || this.sh)) {
        // The server's Finished (encrypted, after its ChangeCipherSpec): the handshake is over.
        this.lastServerHsTs = tsUs;
        this.finish('ok', tsUs);
      }
    } else if (side.type === CT_ALERT && side.alert.length === 2 && !side.ccs) {
      const [level, desc] = side.alert;
      if (level === 2) this.finish('server_error', tsUs, desc, direction);
    } else if (side.type === CT_APPDATA && direction === 1 && this.sh && !isTls13(this.sh.version) && this.ch) {
      // Application data from the server before we saw its Finished (record lost): end here.
      this.finish('ok', tsUs);
    }
  }

  private handshakeBytes(direction: Direction, side: Side, chunk: Buffer, tsUs: number): void {
    let c = chunk;
    if (side.hsSkip > 0) {
      const n = Math.min(side.hsSkip, c.length);
      side.hsSkip -= n;
      this.stats.bytesSkipped += n;
      c = c.subarray(n);
      if (c.length === 0) return;
    }
    let buf = side.hs.length === 0 ? c : Buffer.concat([side.hs, c]);
    let p = 0;
    while (p + 4 <= buf.length && !this.done) {
      const type = buf[p];
      const len = buf.readUIntBE(p + 1, 3);
      if (p + 4 + len > buf.length) {
        if (4 + len > this.maxBuffer) {
          // Too large to reassemble (a long certificate chain): note it and drop its body.
          this.handshakeMessage(direction, type, undefined, tsUs);
          side.hsSkip = p + 4 + len - buf.length;
          this.stats.bytesSkipped += buf.length - p;
          p = buf.length;
        }
        break;
      }
      this.handshakeMessage(direction, type, buf.subarray(p + 4, p + 4 + len), tsUs);
      p += 4 + len;
    }
    buf = buf.subarray(p);
    side.hs = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  }

  private handshakeMessage(direction: Direction, type: number, body: Buffer | undefined, tsUs: number): void {
    if (direction === 1) this.lastServerHsTs = tsUs;
    if (direction === 0 && type === HT_CLIENT_HELLO && body) {
      const ch = parseClientHello(body);
      if (!ch) {
        this.stats.parseErrors++;
        return;
      }
      if (!this.ch) {
        this.ch = ch;
        this.chTs = tsUs;
        this.chLen = body.length + 4;
      }
    } else if (direction === 1 && type === HT_SERVER_HELLO && body) {
      const sh = parseServerHello(body);
      if (!sh) {
        this.stats.parseErrors++;
        return;
      }
      if (sh.hrr) {
        this.hrr = true;
        return;
      }
      this.sh = sh;
      this.shTs = tsUs;
      if (isTls13(sh.version)) this.finish('ok', tsUs);
    }
  }

  private finish(status: L7Record['status'], tsUs: number | undefined, alert?: number, from?: Direction, incomplete = false): void {
    if (this.done) return;
    if (!this.ch && !this.sh) {
      // Mid-stream: no handshake seen. An alert alone is not a handshake record.
      if (status !== 'timeout') this.done = true;
      return;
    }
    this.done = true;
    const attributes: Record<string, string> = {};
    const ch = this.ch;
    const sh = this.sh;
    if (ch) {
      attributes['tls.client_version'] = versionName(ch.legacyVersion) || hex4(ch.legacyVersion);
      if (ch.alpn.length > 0) attributes['tls.alpn_offered'] = ch.alpn.join(',');
      if (ch.versions.length > 0) attributes['tls.supported_versions'] = ch.versions.map((v) => versionName(v) || hex4(v)).join(',');
    }
    if (sh) {
      attributes['tls.cipher'] = CIPHERS[sh.cipher] ?? hex4(sh.cipher);
      attributes['tls.version_raw'] = hex4(sh.version);
      if (sh.alpn) attributes['tls.alpn_selected'] = sh.alpn;
    }
    if (this.hrr) attributes['tls.hello_retry'] = 'true';
    if (alert !== undefined) attributes['tls.alert_from'] = from === 0 ? 'client' : 'server';
    if (incomplete) attributes['tls.handshake_complete'] = 'false';
    const sni = ch?.sni ?? '';
    this.out.push({
      protocol: 'tls',
      version: sh ? versionName(sh.version) : '',
      requestType: 'handshake',
      requestDomain: sni,
      requestResource: '',
      endpoint: sni,
      status,
      responseCode: alert,
      responseException: alert !== undefined ? alertName(alert) : undefined,
      requestTimeUs: ch !== undefined ? this.chTs : undefined,
      responseTimeUs: status === 'timeout' ? undefined : tsUs,
      requestLength: this.chLen,
      responseLength: this.sh ? this.serverBytes : -1,
      attributes,
      countsAsRequest: true,
    });
    // Drop buffers: nothing after the handshake is parsed.
    for (const s of this.sides) {
      s.hs = Buffer.alloc(0);
      s.hdr = Buffer.alloc(0);
    }
  }

  gap(direction: Direction, bytes: number): void {
    const side = this.sides[direction];
    this.stats.bytesSkipped += Math.max(0, bytes) + side.hs.length;
    side.hs = Buffer.alloc(0);
    side.hdr = Buffer.alloc(0);
    side.hsSkip = 0;
    side.left = 0;
    side.synced = false;
  }

  private endIncomplete(): void {
    if (this.done) return;
    if (this.sh) {
      this.finish('ok', this.lastServerHsTs ?? this.shTs, undefined, undefined, true);
    } else if (this.ch) this.finish('timeout', undefined);
    this.done = true;
  }

  expire(nowUs: number, timeoutUs: number): void {
    if (this.done || this.chTs === undefined) return;
    if (nowUs - this.chTs > timeoutUs) this.endIncomplete();
  }

  close(_nowUs: number): void {
    this.endIncomplete();
  }

  take(): L7Record[] {
    const r = this.out;
    this.out = [];
    return r;
  }
}

function detect(direction: Direction, payload: Buffer, _serverPort: number): Verdict {
  if (payload.length < 5) return payload.length >= 1 && payload[0] === CT_HANDSHAKE ? 'maybe' : 'no';
  if (!recordHeader(payload, 0)) return 'no';
  const type = payload[0];
  if (type === CT_HANDSHAKE && payload.length >= 9) {
    const hs = payload[5];
    const len = payload.readUIntBE(6, 3);
    const recLen = payload.readUInt16BE(3);
    // A ClientHello (client) or ServerHello (server) whose length fits the record (or spans records).
    const expected = direction === 0 ? HT_CLIENT_HELLO : HT_SERVER_HELLO;
    if (hs === expected && len >= 38 && (len + 4 <= recLen || recLen === MAX_RECORD - 2048)) {
      if (payload.length >= 11 && payload[9] === 3 && payload[10] <= 4) return 'yes';
    }
    return 'maybe';
  }
  return 'maybe';
}

export const tlsModule: L7ProtocolModule = {
  name: 'tls',
  defaultPorts: [443, 8443, 465, 636, 853, 989, 990, 992, 993, 994, 995, 5061, 6443],
  detect,
  create: (options: ParserOptions = {}) => new TlsParser(options),
};
