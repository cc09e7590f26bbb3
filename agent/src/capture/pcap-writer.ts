/** Writing classic pcap (little-endian, µs timestamps): the project's own recordings and fixtures. */
export const PCAP_GLOBAL_HEADER_BYTES = 24;
export const PCAP_RECORD_HEADER_BYTES = 16;

export function pcapGlobalHeader(linkType: number, snaplen = 262144): Buffer {
  const header = Buffer.alloc(PCAP_GLOBAL_HEADER_BYTES);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(snaplen, 16);
  header.writeUInt32LE(linkType, 20);
  return header;
}

/** Writes a record header at `offset` of `out`. */
export function writePcapRecordHeader(out: Buffer, offset: number, tsUs: number, capLen: number, origLen: number): void {
  out.writeUInt32LE(Math.floor(tsUs / 1e6), offset);
  out.writeUInt32LE(tsUs % 1e6, offset + 4);
  out.writeUInt32LE(capLen, offset + 8);
  out.writeUInt32LE(origLen, offset + 12);
}
