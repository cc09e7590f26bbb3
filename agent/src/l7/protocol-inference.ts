import { Direction, L7ProtocolModule, L7ProtocolName } from './l7-parser';

/**
 * Which application protocol a flow speaks, from its payload (ports are only hints): every
 * module looks at the first payloads of the flow and says whether it is sure or finds them
 * plausible (FlowL7 then parses on speculation). A protocol confirmed on a server (a request
 * answered) is remembered for that server, so its next connections skip the guessing. A flow
 * that gives no answer after a few payloads stops being examined (bounded cost).
 */
export interface InferenceOptions {
  /** Payloads examined per flow before giving up. */
  maxAttempts?: number;
  /** Servers remembered. */
  maxServers?: number;
}

export class ProtocolInference {
  private readonly servers = new Map<string, L7ProtocolName>();
  private readonly maxAttempts: number;
  private readonly maxServers: number;
  /** Flows that were given up on. */
  gaveUp = 0;

  constructor(
    private readonly modules: readonly L7ProtocolModule[],
    options: InferenceOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 8;
    this.maxServers = options.maxServers ?? 100_000;
  }

  /** What a server is known to speak, if anything. */
  known(serverKey: string): L7ProtocolModule | undefined {
    const name = this.servers.get(serverKey);
    return name ? this.module(name) : undefined;
  }

  /**
   * The modules that find a payload plausible: the one that is sure (`yes`), or those that
   * cannot rule it out (`maybe`), for speculative parsing.
   */
  plausible(direction: Direction, payload: Buffer, serverPort: number): { sure?: L7ProtocolModule; maybe: L7ProtocolModule[] } {
    const maybe: L7ProtocolModule[] = [];
    for (const m of this.modules) {
      const verdict = m.detect(direction, payload, serverPort);
      if (verdict === 'yes') return { sure: m, maybe };
      if (verdict === 'maybe') maybe.push(m);
    }
    return { maybe };
  }

  get maxAttemptsPerFlow(): number {
    return this.maxAttempts;
  }

  noteGaveUp(): void {
    this.gaveUp++;
  }

  /** A request of this protocol was answered on this server: remember it. */
  confirm(serverKey: string, protocol: L7ProtocolName): void {
    if (this.servers.get(serverKey) === protocol) return;
    if (this.servers.size >= this.maxServers) this.servers.delete(this.servers.keys().next().value as string);
    this.servers.set(serverKey, protocol);
  }

  /** A remembered protocol failed on this server (it changed): forget it. */
  forget(serverKey: string): void {
    this.servers.delete(serverKey);
  }

  private module(name: L7ProtocolName): L7ProtocolModule | undefined {
    return this.modules.find((m) => m.name === name);
  }
}
