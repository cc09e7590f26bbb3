/**
 * Supervision of the capture loader by the live agent: when to restart a loader that died
 * (exponential backoff that starts over after a healthy run, and an end to a crash loop), the
 * capture gaps this leaves (for the log, the agent's health and `flow_metrics.capture_gaps`), and
 * how the requests a gap cut off are reported.
 */
import { FlowContext, L7Output } from '../l7/l7-output';
import { L7Record } from '../l7/l7-parser';
import { micros } from '../util/time-format';

export interface LoaderRestartOptions {
  /** Delay before restarting after the first crash; it doubles with every crash in a row. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** A loader that captured this long before it died was healthy: the next delay starts over. */
  healthyAfterMs: number;
  /** This many crashes in a row (no healthy run in between) end the restarts. */
  maxCrashesInARow: number;
}

/** 0.5, 1, 2, 4, 8 s; the 6th crash in a row, each within a minute of capturing, ends the restarts. */
export const DEFAULT_LOADER_RESTARTS: LoaderRestartOptions = { firstDelayMs: 500, maxDelayMs: 30_000, healthyAfterMs: 60_000, maxCrashesInARow: 6 };

export type RestartDecision = { restartInMs: number; crashesInARow: number } | { giveUp: string };

/** Exponential backoff over the crashes in a row; a healthy run starts it over. */
export class RestartBackoff {
  private inARow = 0;

  constructor(readonly options: LoaderRestartOptions = DEFAULT_LOADER_RESTARTS) {}

  get crashesInARow(): number {
    return this.inARow;
  }

  /** A loader died after capturing for `capturedMs` (0: it never said it was ready). */
  crashed(capturedMs: number): RestartDecision {
    const o = this.options;
    if (capturedMs >= o.healthyAfterMs) this.inARow = 0;
    this.inARow++;
    if (this.inARow >= o.maxCrashesInARow) {
      return { giveUp: `it died ${this.inARow} times in a row, each time within ${seconds(o.healthyAfterMs * 1000)} of capturing` };
    }
    return { restartInMs: Math.min(o.maxDelayMs, o.firstDelayMs * 2 ** (this.inARow - 1)), crashesInARow: this.inARow };
  }
}

/** A time without capture: from the loader's death to the next loader being ready. */
export interface CaptureGap {
  /** Wall clock µs: the dead loader's last output (what it captured before was delivered). */
  startUs: number;
  /** When the next loader said it was ready, or the agent stopped; undefined while open. */
  endUs?: number;
  /** How the loader ended: `killed by SIGKILL`, `exit 1`. */
  reason: string;
  /** Loader runs that ended in this gap (a restarted loader may die before it is ready). */
  crashes: number;
  loaderPid: number;
  /** The loader that ended the gap; 0 when capture did not resume. */
  nextLoaderPid: number;
}

/** Gaps kept for the stop summary (all are counted, and stored as they end). */
const KEPT_GAPS = 100;

/** The gaps of one agent: at most one open, the last ones closed, and totals. */
export class CaptureGaps {
  private openGap: CaptureGap | undefined;
  private readonly closedGaps: CaptureGap[] = [];
  private started = 0;
  private closedUs = 0;

  /** The loader died at `atUs`: a gap starts, or the open one (a restart that died too) goes on. */
  begin(atUs: number, reason: string, loaderPid: number): CaptureGap {
    if (this.openGap) {
      this.openGap.crashes++;
      return this.openGap;
    }
    this.started++;
    this.openGap = { startUs: atUs, reason, crashes: 1, loaderPid, nextLoaderPid: 0 };
    return this.openGap;
  }

  /** Capture resumed with loader `nextPid` (0: it did not, the agent stopped): the open gap ends. */
  end(atUs: number, nextPid: number): CaptureGap | undefined {
    const g = this.openGap;
    if (!g) return undefined;
    this.openGap = undefined;
    g.endUs = Math.max(atUs, g.startUs);
    g.nextLoaderPid = nextPid;
    this.closedUs += g.endUs - g.startUs;
    this.closedGaps.push(g);
    if (this.closedGaps.length > KEPT_GAPS) this.closedGaps.shift();
    return g;
  }

  get open(): CaptureGap | undefined {
    return this.openGap;
  }

  /** Gaps begun, the open one included. */
  get count(): number {
    return this.started;
  }

  /** The last gaps that ended, oldest first. */
  get closed(): readonly CaptureGap[] {
    return this.closedGaps;
  }

  /** Seconds without capture, the open gap up to `nowUs` included. */
  seconds(nowUs: number): number {
    const open = this.openGap ? Math.max(0, nowUs - this.openGap.startUs) : 0;
    return (this.closedUs + open) / 1e6;
  }
}

/** The `flow_metrics.capture_gaps` row of a gap that ended. */
export function captureGapRow(g: CaptureGap, host: string): Record<string, unknown> {
  const endUs = g.endUs ?? g.startUs;
  return {
    time: Math.floor(g.startUs / 1e6),
    host,
    source: 'live',
    start_time: micros(g.startUs),
    end_time: micros(endUs),
    duration_us: Math.round(endUs - g.startUs),
    reason: g.reason,
    crashes: g.crashes,
    loader_pid: g.loaderPid,
    next_loader_pid: g.nextLoaderPid,
  };
}

/** `2024-05-01T10:00:00.123Z` of a wall clock µs. */
export function isoTime(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}

/** `0.4 s`, `1 min`. */
export function seconds(us: number): string {
  const s = us / 1e6;
  return s >= 60 && Number.isInteger(s / 60) ? `${s / 60} min` : `${Number(s.toFixed(3))} s`;
}

/**
 * The request log of eBPF socket data. A loader that dies takes the rest of its sockets' data
 * with it: what they were parsing is closed at the gap (the next loader's data on a surviving
 * socket starts a new flow, never continuing a parse across missing bytes), and a request whose
 * answer fell into the gap is not a server timeout: while `cutByGap` is set it is reported with
 * status `unknown` and the attribute `capture_gap` = `true` instead.
 */
export class SocketRequestOutput extends L7Output {
  cutByGap = false;

  override record(ctx: FlowContext, r: L7Record): number {
    if (this.cutByGap && r.status === 'timeout') {
      r.status = 'unknown';
      r.attributes = { ...(r.attributes ?? {}), capture_gap: 'true' };
    }
    return super.record(ctx, r);
  }
}
