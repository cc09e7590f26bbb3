import { computeLayout } from './layout';
import { LayoutRunner, workerSource } from './layout-worker';

const INPUT = {
  ids: ['client', 'web', 'db'],
  edges: [
    ['client', 'web'],
    ['web', 'db'],
  ] as Array<[string, string]>,
};

/** A stand-in for the browser's Worker that runs the script it is given, as a worker would. */
class ScriptWorker {
  static scripts: string[] = [];
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  private handler: (e: { data: unknown }) => void;

  constructor(url: string) {
    const script = ScriptWorker.scripts[Number(url.slice('blob:test/'.length))];
    const self: { onmessage?: (e: { data: unknown }) => void; postMessage: (data: unknown) => void } = {
      postMessage: (data) => setTimeout(() => this.onmessage?.({ data }), 0),
    };
    new Function('self', script)(self);
    this.handler = self.onmessage as (e: { data: unknown }) => void;
  }

  postMessage(data: unknown) {
    setTimeout(() => this.handler({ data: JSON.parse(JSON.stringify(data)) }), 0);
  }

  terminate() {}
}

describe('LayoutRunner', () => {
  const saved = { Worker: global.Worker, create: URL.createObjectURL, revoke: URL.revokeObjectURL };

  afterEach(() => {
    Object.assign(global, { Worker: saved.Worker });
    URL.createObjectURL = saved.create;
    URL.revokeObjectURL = saved.revoke;
  });

  it('runs the layout in a worker made from a Blob of its own source', async () => {
    const blobs: Blob[] = [];
    URL.createObjectURL = (blob: Blob) => {
      blobs.push(blob);
      return `blob:test/${blobs.length - 1}`;
    };
    URL.revokeObjectURL = () => undefined;
    ScriptWorker.scripts = [workerSource()];
    Object.assign(global, { Worker: ScriptWorker });
    const runner = new LayoutRunner();
    expect(runner.engine).toBe('worker');
    const outcome = await runner.run(INPUT);
    expect(outcome.engine).toBe('worker');
    expect(outcome.result).toEqual(computeLayout(INPUT));
    expect(blobs).toHaveLength(1);
    expect(blobs[0].type).toBe('text/javascript');
    runner.dispose();
  });

  it('falls back to the main thread when a worker cannot be made', async () => {
    Object.assign(global, {
      Worker: class {
        constructor() {
          throw new Error('blocked by CSP');
        }
      },
    });
    URL.createObjectURL = () => 'blob:x';
    URL.revokeObjectURL = () => undefined;
    const runner = new LayoutRunner();
    const outcome = await runner.run(INPUT);
    expect(outcome.engine).toBe('main');
    expect(outcome.result).toEqual(computeLayout(INPUT));
    expect(runner.engine).toBe('main');
  });

  it('falls back to the main thread when the worker fails to start', async () => {
    let made: { onerror: ((e: Event) => void) | null } | undefined;
    Object.assign(global, {
      Worker: class {
        onerror: ((e: Event) => void) | null = null;
        onmessage = null;
        constructor() {
          // eslint-disable-next-line @typescript-eslint/no-this-alias
          made = this;
        }
        postMessage() {
          setTimeout(() => made?.onerror?.(new Event('error')), 0);
        }
        terminate() {}
      },
    });
    URL.createObjectURL = () => 'blob:x';
    URL.revokeObjectURL = () => undefined;
    const outcome = await new LayoutRunner().run(INPUT);
    expect(outcome.engine).toBe('main');
    expect(outcome.result.ids).toEqual(['client', 'db', 'web']);
  });

  it('uses the main thread where there is no Worker (jsdom)', async () => {
    Object.assign(global, { Worker: undefined });
    const outcome = await new LayoutRunner().run(INPUT);
    expect(outcome.engine).toBe('main');
  });
});
