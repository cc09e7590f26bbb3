/**
 * A loader record stream (bpf/README.md, "Framing") like the one `npm run bench:live` makes, built
 * without the kernel for `npm run bench:live-decode`: wrk ↔ nginx (`return 200 "ok"`) or
 * redis-benchmark ↔ redis-server (SET then GET), keep-alive connections served in turn, four
 * socket data records per request (client write, server read, server write, client read) with the
 * payloads, sizes, flags, pids and sock pointers of a recorded run, connect/accept records before
 * a connection's first request and close records after its last, a stats record per second.
 */
import { dataRecord, helloRecord, logRecord, sockEventRecord, statsRecord } from '../testing/loader-stream';

/** 46,000 requests/s (wrk on nginx in bench:live without the agent), four records each. */
const NS_PER_RECORD = 5_400n;
/** Monotonic clock at the first record, and wall = monotonic + this (values of a recorded run). */
const START_NS = 18_422_887_180_714n;
export const BOOT_OFFSET_NS = 1_795_743_903_813_390_582n;

export type LiveWorkload = 'nginx' | 'redis';

interface Side {
  pid: number;
  tid: number;
  fd: number;
  comm: string;
  port: number;
  sockId: bigint;
}

/** Records appended in time order, with the encoder the loader-records tests use (testing/loader-stream.ts). */
class StreamWriter {
  private readonly parts: Buffer[] = [];
  tsNs = START_NS;

  hello(): void {
    this.parts.push(helloRecord(BOOT_OFFSET_NS), logRecord(1, 'ready: active=0xf'));
  }

  stats(dataEmitted: number): void {
    this.parts.push(statsRecord(this.tsNs + BOOT_OFFSET_NS, BOOT_OFFSET_NS, dataEmitted));
  }

  data(side: Side, peer: Side, direction: 0 | 1, role: 1 | 2, flags: number, payload: Buffer): void {
    this.tsNs += NS_PER_RECORD;
    const { pid, tid, fd, comm, sockId } = side;
    this.parts.push(dataRecord({ tsNs: this.tsNs, sockId, pid, tid, fd, direction, role, flags, localPort: side.port, remotePort: peer.port, comm, payload }));
  }

  sockEvent(side: Side, peer: Side, kind: 1 | 2 | 3): void {
    this.tsNs += NS_PER_RECORD;
    this.parts.push(sockEventRecord({ tsNs: this.tsNs, sockId: side.sockId, pid: side.pid, kind, localPort: side.port, remotePort: peer.port, comm: side.comm }));
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export interface LiveStream {
  workload: LiveWorkload;
  bytes: Buffer;
  requests: number;
  dataRecords: number;
  connections: number;
}

const HTTP_DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const HTTP_MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function httpDate(wallNs: bigint): string {
  const d = new Date(Number(wallNs / 1_000_000n));
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${HTTP_DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${HTTP_MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} GMT`;
}

/** A kernel-like `struct sock` address (0xffff888…, 64-byte aligned), distinct per n. */
function sockPointer(n: number): bigint {
  return 0xffff888100000000n + BigInt(n) * 0x9c0n + 0x40n;
}

/**
 * `requests` requests over `connections` keep-alive connections, one request per connection in
 * turn (as `wrk -c20` and `redis-benchmark -c20` keep all of them busy).
 */
export function liveStream(workload: LiveWorkload, requests: number, connections = 20): LiveStream {
  const w = new StreamWriter();
  w.hello();
  const server = workload === 'nginx' ? { pid: 2279, comm: 'nginx', port: 18080 } : { pid: 2277, comm: 'redis-server', port: 16379 };
  const client = workload === 'nginx' ? { pid: 2470, comm: 'wrk' } : { pid: 2473, comm: 'redis-benchmark' };
  const pairs = Array.from({ length: connections }, (_, i) => ({
    c: { pid: client.pid, tid: client.pid + 1, fd: 4 + i, comm: client.comm, port: 41326 + i, sockId: sockPointer(2 * i) },
    s: { pid: server.pid, tid: server.pid, fd: 9 + i, comm: server.comm, port: server.port, sockId: sockPointer(2 * i + 1) },
  }));
  const request = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`, 'latin1');
  const set = Buffer.from('*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nVXK\r\n', 'latin1');
  const get = Buffer.from('*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n', 'latin1');
  const ok = Buffer.from('+OK\r\n', 'latin1');
  const value = Buffer.from('$3\r\nVXK\r\n', 'latin1');
  let response = Buffer.alloc(0);
  let responseSecond = -1n;
  let dataRecords = 0;
  let lastStatsSecond = w.tsNs / 1_000_000_000n;
  const served = new Array<number>(connections).fill(0);
  for (let n = 0; n < requests; n++) {
    const i = n % connections;
    const { c, s } = pairs[i];
    const last = n + connections >= requests;
    if (served[i] === 0) {
      w.sockEvent(c, s, 1);
      w.sockEvent(s, c, 2);
    }
    let req: Buffer;
    let resp: Buffer;
    if (workload === 'nginx') {
      const wall = w.tsNs + BOOT_OFFSET_NS;
      if (wall / 1_000_000_000n !== responseSecond) {
        responseSecond = wall / 1_000_000_000n;
        const body = 'ok';
        response = Buffer.from(`HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: ${httpDate(wall)}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`, 'latin1');
      }
      req = request;
      resp = response;
    } else {
      const setting = n < requests / 2;
      req = setting ? set : get;
      resp = setting ? ok : value;
    }
    // The first request of a socket is what the pre-filter saw; later records have flag 4 (classified).
    const flags = served[i] === 0 ? 0 : 4;
    w.data(c, s, 0, 1, flags, req);
    w.data(s, c, 1, 2, flags, req);
    w.data(s, c, 0, 2, 4, resp);
    w.data(c, s, 1, 1, 4, resp);
    dataRecords += 4;
    served[i]++;
    if (last) {
      w.sockEvent(c, s, 3);
      w.sockEvent(s, c, 3);
    }
    const second = w.tsNs / 1_000_000_000n;
    if (second !== lastStatsSecond) {
      lastStatsSecond = second;
      w.stats(dataRecords);
    }
  }
  w.stats(dataRecords);
  return { workload, bytes: w.bytes(), requests, dataRecords, connections };
}

/** The stream cut as a pipe delivers it: chunks of `size` bytes, records split across them. */
export function chunks(bytes: Buffer, size = 64 * 1024): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(Buffer.from(bytes.subarray(at, at + size)));
  return out;
}
