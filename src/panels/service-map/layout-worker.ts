/**
 * Runs `computeLayout` off the main thread: a Web Worker made from a Blob URL of the function's
 * own source text (it is self-contained, see layout.ts), so it works from a plugin bundle served
 * anywhere, with no separate worker file for Grafana to serve. Where a worker cannot be made or
 * fails (no Worker, a Content-Security-Policy without `worker-src blob:`), the layout runs on the
 * main thread instead, after yielding once so the panel can paint.
 */
import { computeLayout, LayoutInput, LayoutResult } from './layout';

export type LayoutEngine = 'worker' | 'main';

export interface LayoutOutcome {
  result: LayoutResult;
  engine: LayoutEngine;
  /** Time from the request to the result, ms. */
  ms: number;
}

interface Pending {
  input: LayoutInput;
  started: number;
  resolve: (outcome: LayoutOutcome) => void;
  reject: (error: Error) => void;
}

/** The worker's script: the layout function, and a message handler around it. */
export function workerSource(): string {
  return [
    '"use strict";',
    `var computeLayout = ${computeLayout.toString()};`,
    'self.onmessage = function (event) {',
    '  var id = event.data.id;',
    '  try {',
    '    self.postMessage({ id: id, result: computeLayout(event.data.input) });',
    '  } catch (e) {',
    '    self.postMessage({ id: id, error: String((e && e.message) || e) });',
    '  }',
    '};',
  ].join('\n');
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

export class LayoutRunner {
  private worker: Worker | null = null;
  private url: string | null = null;
  private broken = false;
  private sequence = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly allowWorker = true) {}

  /** The engine the next layout runs on. */
  get engine(): LayoutEngine {
    return this.allowWorker && !this.broken && canMakeWorker() ? 'worker' : 'main';
  }

  run(input: LayoutInput): Promise<LayoutOutcome> {
    const started = now();
    if (this.engine === 'worker') {
      const worker = this.ensureWorker();
      if (worker) {
        return new Promise((resolve, reject) => {
          const id = ++this.sequence;
          this.pending.set(id, { input, started, resolve, reject });
          worker.postMessage({ id, input });
        });
      }
    }
    return runOnMainThread(input, started);
  }

  dispose(): void {
    this.worker?.terminate();
    this.worker = null;
    if (this.url) {
      URL.revokeObjectURL(this.url);
      this.url = null;
    }
    this.pending.clear();
  }

  private ensureWorker(): Worker | null {
    if (this.worker) {
      return this.worker;
    }
    try {
      this.url = URL.createObjectURL(new Blob([workerSource()], { type: 'text/javascript' }));
      const worker = new Worker(this.url);
      worker.onmessage = (event: MessageEvent<{ id: number; result?: LayoutResult; error?: string }>) => {
        const p = this.pending.get(event.data.id);
        if (!p) {
          return;
        }
        this.pending.delete(event.data.id);
        if (event.data.result) {
          p.resolve({ result: event.data.result, engine: 'worker', ms: now() - p.started });
        } else {
          p.reject(new Error(event.data.error ?? 'layout failed'));
        }
      };
      worker.onerror = (event: Event) => {
        // The worker could not start (or died): every waiting layout runs on the main thread.
        event.preventDefault();
        this.fail();
      };
      this.worker = worker;
      return worker;
    } catch {
      this.fail();
      return null;
    }
  }

  private fail(): void {
    this.broken = true;
    const waiting = [...this.pending.values()];
    this.dispose();
    for (const p of waiting) {
      runOnMainThread(p.input, p.started).then(p.resolve, p.reject);
    }
  }
}

function canMakeWorker(): boolean {
  return typeof Worker !== 'undefined' && typeof Blob !== 'undefined' && typeof URL !== 'undefined' && typeof URL.createObjectURL === 'function';
}

function runOnMainThread(input: LayoutInput, started: number): Promise<LayoutOutcome> {
  return new Promise((resolve, reject) => {
    setTimeout(() => {
      try {
        resolve({ result: computeLayout(input), engine: 'main', ms: now() - started });
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    }, 0);
  });
}
