/**
 * Test harness for protocol parsers on real captures, before the L7 pipeline exists: reads a
 * capture with our reader and decoder, puts each TCP direction back in sequence order (trimming
 * retransmitted bytes, reporting gaps) and feeds every flow whose first payload the module does
 * not reject to one parser per flow. UDP datagrams are fed one by one.
 */
import { readFileSync } from 'node:fs';
import { CaptureReader } from '../capture/capture-reader';
import { DecodedPacket, IpProto, TcpFlag } from '../decode/decoded-packet';
import { PacketDecoder } from '../decode/packet-decoder';
import { formatAddress } from '../util/ip-format';
import { Direction, L7Parser, L7ProtocolModule, L7Record, ParserOptions } from '../l7/l7-parser';

export interface FlowRecords {
  client: string;
  server: string;
  records: L7Record[];
  parser: L7Parser;
}

interface Side {
  next: number;
  known: boolean;
}

interface Flow {
  client: string;
  server: string;
  serverPort: number;
  parser: L7Parser | null;
  rejected: boolean;
  sides: [Side, Side];
  records: L7Record[];
}

function endpoint(p: DecodedPacket, source: boolean): string {
  const ip =
    p.ipVersion === 4
      ? formatAddress(4, [0, 0, 0, source ? p.srcIp4 : p.dstIp4])
      : formatAddress(6, wordsOf(source ? p.srcIp6 : p.dstIp6));
  const port = source ? p.srcPort : p.dstPort;
  return p.ipVersion === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function wordsOf(b: Buffer): number[] {
  return [b.readUInt32BE(0), b.readUInt32BE(4), b.readUInt32BE(8), b.readUInt32BE(12)];
}

/**
 * Runs `module` over every flow of the capture. `serverPorts` adds ports that mark the server
 * side of flows whose handshake was not captured (besides the module's default ports).
 */
export function parseCapture(path: string, module: L7ProtocolModule, options: ParserOptions = {}, serverPorts: number[] = []): FlowRecords[] {
  const flows = new Map<string, Flow>();
  const decoder = new PacketDecoder();
  const p = new DecodedPacket();
  const ports = new Set([...module.defaultPorts, ...serverPorts]);
  let lastTs = 0;
  const reader = new CaptureReader((pkt) => {
    if (!decoder.decode(pkt, p)) return;
    lastTs = Math.max(lastTs, p.tsUs);
    const src = endpoint(p, true);
    const dst = endpoint(p, false);
    const key = src < dst ? `${p.ipProto} ${src} ${dst}` : `${p.ipProto} ${dst} ${src}`;
    let flow = flows.get(key);
    const syn = (p.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN;
    const synAck = (p.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK)) === (TcpFlag.SYN | TcpFlag.ACK);
    if (!flow) {
      let clientIsSrc: boolean;
      if (syn) clientIsSrc = true;
      else if (synAck) clientIsSrc = false;
      else if (ports.has(p.dstPort) !== ports.has(p.srcPort)) clientIsSrc = ports.has(p.dstPort);
      else clientIsSrc = p.dstPort < p.srcPort;
      flow = {
        client: clientIsSrc ? src : dst,
        server: clientIsSrc ? dst : src,
        serverPort: clientIsSrc ? p.dstPort : p.srcPort,
        parser: null,
        rejected: false,
        sides: [
          { next: 0, known: false },
          { next: 0, known: false },
        ],
        records: [],
      };
      flows.set(key, flow);
    }
    const direction: Direction = src === flow.client ? 0 : 1;
    if (p.ipProto === IpProto.UDP) {
      deliver(flow, direction, Buffer.from(p.payload), p.tsUs);
      return;
    }
    const side = flow.sides[direction];
    if (p.tcpFlags & TcpFlag.SYN) {
      side.next = (p.seq + 1) >>> 0;
      side.known = true;
      return;
    }
    const len = p.payload.length;
    if (len === 0) return;
    if (!side.known) {
      side.next = p.seq;
      side.known = true;
    }
    const offset = (side.next - p.seq) | 0;
    if (offset >= len) return; // all seen already
    if (offset < 0) {
      flow.parser?.gap(direction, -offset);
      side.next = p.seq;
      deliver(flow, direction, Buffer.from(p.payload), p.tsUs);
    } else {
      deliver(flow, direction, Buffer.from(p.payload.subarray(offset)), p.tsUs);
    }
    side.next = (p.seq + len) >>> 0;
  });
  const deliver = (flow: Flow, direction: Direction, data: Buffer, tsUs: number): void => {
    if (flow.rejected || data.length === 0) return;
    if (!flow.parser) {
      if (module.detect(direction, data, flow.serverPort) === 'no' && !ports.has(flow.serverPort)) {
        flow.rejected = true;
        return;
      }
      flow.parser = module.create(options);
    }
    flow.parser.feed(direction, data, tsUs);
    flow.records.push(...flow.parser.take());
  };
  reader.feed(readFileSync(path));
  reader.end();
  const out: FlowRecords[] = [];
  for (const flow of flows.values()) {
    if (!flow.parser) continue;
    flow.parser.close(lastTs);
    flow.records.push(...flow.parser.take());
    out.push({ client: flow.client, server: flow.server, records: flow.records, parser: flow.parser });
  }
  return out;
}
