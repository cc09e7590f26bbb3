import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The shared capture corpus with its tshark oracles, read in place (never copied into the
 * project). Found through METAFLOW_CORPUS, else `../shared/corpus` beside the repository.
 */
export function corpusDir(): string | undefined {
  const candidates = [process.env.METAFLOW_CORPUS, resolve(__dirname, '../../../../shared/corpus')].filter(Boolean) as string[];
  return candidates.find((d) => existsSync(join(d, 'README.md')));
}

export const CORPUS_MISSING = `corpus not found (set METAFLOW_CORPUS or place it at ${resolve(__dirname, '../../../../shared/corpus')})`;

export interface CorpusCapture {
  /** Path relative to the corpus, e.g. `tcp/zeek_syn-then-rst.pcap`. */
  name: string;
  path: string;
  oracle: Oracle;
}

export interface OracleFlow {
  l4: 'tcp' | 'udp';
  client: string;
  server: string;
  role_from: string;
  packets: number;
  handshake?: string;
  syn?: number;
  syn_ack?: number;
  rst?: number;
  fin?: number;
  syn_to_synack_s?: number | null;
  last_syn_to_synack_s?: number | null;
  synack_to_ack_s?: number | null;
}

export interface Oracle {
  capture: { packets: number; bytes: number };
  flows: { tcp: number; udp: number; list: OracleFlow[] };
  tcp: {
    frames: number;
    syn: number;
    syn_ack: number;
    rst: number;
    rst_ack: number;
    fin: number;
    analysis: Record<string, number>;
    handshake: Record<string, number>;
  };
  l7: Record<string, unknown> | null;
}

export function corpusCaptures(dir: string): CorpusCapture[] {
  const out: CorpusCapture[] = [];
  for (const folder of readdirSync(dir, { withFileTypes: true })) {
    if (!folder.isDirectory()) continue;
    for (const file of readdirSync(join(dir, folder.name)).sort()) {
      if (!/\.(pcap|pcapng)$/.test(file)) continue;
      const path = join(dir, folder.name, file);
      if (!existsSync(path + '.oracle.json')) continue;
      out.push({ name: `${folder.name}/${file}`, path, oracle: JSON.parse(readFileSync(path + '.oracle.json', 'utf8')) as Oracle });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
