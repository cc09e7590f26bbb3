import { parseAddress } from '../util/ip-format';

/** Observation points of packet data (SPEC §1) that the address rules can tell apart. */
export const TAP_SIDES = ['rest', 'c', 's', 'local', 'c-nd', 's-nd', 'c-hv', 's-hv', 'c-gw-hv', 's-gw-hv', 'c-gw', 's-gw'] as const;
export type PacketTapSide = (typeof TAP_SIDES)[number];
export const TapSideCode = { rest: 0, c: 1, s: 2, local: 3 } as const;

/**
 * Live capture's observation points: the tap_side of a flow seen at capture point `tapPort`
 * (an interface), given what the address rule says and the direction of one of its packets.
 */
export interface ObservationPoints {
  tapSide(tapPort: number, addressSide: number, outgoing: boolean, packetFromClient: boolean): number;
}

/**
 * Decides `tap_side` of packet data from which ends of a flow are addresses of the capturing
 * host: both → `local`, the client only → `c`, the server only → `s`, neither → `rest`.
 * Loopback addresses always belong to the capturing host.
 */
export class LocalAddresses {
  private readonly v4 = new Set<number>();
  private readonly v6 = new Set<string>();

  constructor(addresses: readonly string[] = []) {
    for (const a of addresses) this.add(a);
  }

  add(address: string): void {
    const parsed = parseAddress(address.trim());
    if (!parsed) throw new Error(`not an IP address: ${JSON.stringify(address)}`);
    if (parsed.version === 4) this.v4.add(parsed.words[3]);
    else this.v6.add(Array.from(parsed.words).join(','));
  }

  /** `words` holds the address at `offset` in the 4-word form of the flow table. */
  has(ipVersion: number, words: Uint32Array, offset: number): boolean {
    if (ipVersion === 4) {
      const a = words[offset + 3];
      return a >>> 24 === 127 || this.v4.has(a);
    }
    if (words[offset] === 0 && words[offset + 1] === 0 && words[offset + 2] === 0 && words[offset + 3] === 1) return true;
    return this.v6.size > 0 && this.v6.has(`${words[offset]},${words[offset + 1]},${words[offset + 2]},${words[offset + 3]}`);
  }

  tapSide(ipVersion: number, words: Uint32Array, clientOffset: number, serverOffset: number): number {
    const client = this.has(ipVersion, words, clientOffset);
    const server = this.has(ipVersion, words, serverOffset);
    if (client && server) return TapSideCode.local;
    if (client) return TapSideCode.c;
    if (server) return TapSideCode.s;
    return TapSideCode.rest;
  }
}
