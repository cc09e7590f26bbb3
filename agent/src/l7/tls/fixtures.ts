/**
 * TLS records built from their RFC 8446 layouts (record, handshake message, extension), shared by
 * the parser's tests and the copy test.
 */
export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const u16 = (n: number): string => n.toString(16).padStart(4, '0');
const u24 = (n: number): string => n.toString(16).padStart(6, '0');
const len = (h: string): number => h.replace(/\s+/g, '').length / 2;
/** Handshake message (RFC 8446 §4): type(1) length(3) body. */
export const hs = (type: number, body: string): string => type.toString(16).padStart(2, '0') + u24(len(body)) + body;
/** Record (RFC 8446 §5.1): type(1) legacy_version(2) length(2) fragment. */
export const rec = (type: number, frag: string, version = '0303'): Buffer => hex(type.toString(16).padStart(2, '0') + version + u16(len(frag)) + frag);
const ext = (type: number, data: string): string => u16(type) + u16(len(data)) + data;

// ClientHello: version 0x0303, random, empty session id, 2 cipher suites, null compression, and
// server_name "example.com", ALPN [h2, http/1.1], supported_versions [GREASE, 1.3, 1.2].
const SNI = ext(0, u16(14) + '00' + u16(11) + Buffer.from('example.com').toString('hex'));
const ALPN_OFFER = ext(16, u16(12) + '02' + '6832' + '08' + Buffer.from('http/1.1').toString('hex'));
const VERSIONS = ext(43, '06' + '1a1a 0304 0303');
const CH_EXTS = SNI + ALPN_OFFER + VERSIONS;
export const CH_BODY = '0303' + '11'.repeat(32) + '00' + '0004 1301 c02f' + '0100' + u16(len(CH_EXTS)) + CH_EXTS;
export const CLIENT_HELLO = rec(22, hs(1, CH_BODY), '0301');
// TLS 1.2 ServerHello: cipher 0xc02f, ALPN h2 selected; Certificate (dummy), ServerHelloDone.
const SH12_EXTS = ext(16, u16(3) + '02' + '6832');
const SH12 = hs(2, '0303' + '22'.repeat(32) + '00' + 'c02f' + '00' + u16(len(SH12_EXTS)) + SH12_EXTS);
const CERT = hs(11, '00'.repeat(300));
const SHD = hs(14, '');
export const SERVER_FLIGHT_12 = Buffer.concat([rec(22, SH12 + CERT + SHD)]);
export const CLIENT_FINISH_12 = Buffer.concat([rec(22, hs(16, '33'.repeat(65))), rec(20, '01'), rec(22, '44'.repeat(40))]);
export const SERVER_FINISH_12 = Buffer.concat([rec(20, '01'), rec(22, '55'.repeat(40))]);
export const APP_DATA = rec(23, '66'.repeat(100));
// TLS 1.3 ServerHello: legacy 0x0303, session id echo, TLS_AES_128_GCM_SHA256, supported_versions 0x0304.
const SH13_EXTS = ext(43, '0304') + ext(51, '001d 0020' + '77'.repeat(32));
export const SH13 = rec(22, hs(2, '0303' + '22'.repeat(32) + '20' + '88'.repeat(32) + '1301' + '00' + u16(len(SH13_EXTS)) + SH13_EXTS));
export const HRR = rec(
  22,
  hs(2, '0303' + 'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c' + '00' + '1301' + '00' + u16(len(ext(43, '0304'))) + ext(43, '0304')),
);
export const alert = (level: number, desc: number): Buffer => rec(21, level.toString(16).padStart(2, '0') + desc.toString(16).padStart(2, '0'));
