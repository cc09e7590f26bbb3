/** Text forms of addresses kept as 4 words per side (IPv4 in the last word). */
export function formatIpv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** RFC 5952 text form: lower case, longest run of zero groups (two or more) as `::`. */
export function formatIpv6(words: ArrayLike<number>, offset = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 4; i++) {
    const w = words[offset + i] >>> 0;
    groups.push(w >>> 16, w & 0xffff);
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function formatAddress(ipVersion: number, words: ArrayLike<number>, offset = 0): string {
  return ipVersion === 4 ? formatIpv4(words[offset + 3] >>> 0) : formatIpv6(words, offset);
}

/** Parses an IPv4 or IPv6 literal into 4 words (IPv4 in the last word); null if it is neither. */
export function parseAddress(text: string): { version: 4 | 6; words: Uint32Array } | null {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    if (parts.some((p) => p > 255)) return null;
    const words = new Uint32Array(4);
    words[3] = ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
    return { version: 4, words };
  }
  if (!text.includes(':')) return null;
  const [head, tail, extra] = text.split('::');
  if (extra !== undefined) return null;
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return null;
  const all = [...headGroups, ...new Array<string>(tail === undefined ? 0 : missing).fill('0'), ...tailGroups];
  if (all.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  const words = new Uint32Array(4);
  for (let i = 0; i < 4; i++) words[i] = ((parseInt(all[2 * i], 16) << 16) | parseInt(all[2 * i + 1], 16)) >>> 0;
  return { version: 6, words };
}

/** `ip:port`, with an IPv6 address in brackets (RFC 3986) so the port stays unambiguous. */
export function formatEndpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
