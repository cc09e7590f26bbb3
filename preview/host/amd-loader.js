/**
 * A small AMD loader in the role of Grafana's SystemJS + AMD extra: a plugin's module.js is loaded
 * as a script whose `define([...deps], factory)` names the shared modules it needs; those come
 * from the registry (Grafana's "shared dependencies"), `module` is the plugin's module meta with
 * the `uri` its webpack public path is derived from, and anything else is an error.
 */
/* global window, document, URL -- browser */
export function createAmdLoader(registry) {
  let queue = Promise.resolve();

  function resolveDeps(deps, url, exports) {
    return deps.map((dep) => {
      if (dep === 'module') return { id: url, uri: url };
      if (dep === 'exports') return exports;
      if (dep === 'require') return (name) => resolveDeps([name], url, exports)[0];
      if (!(dep in registry)) throw new Error(`plugin ${url} needs module "${dep}", which the host does not share`);
      return registry[dep];
    });
  }

  function loadOne(url) {
    return new Promise((resolve, reject) => {
      let definition;
      const define = (...args) => {
        const factory = args.pop();
        const deps = Array.isArray(args[args.length - 1]) ? args.pop() : ['require', 'exports', 'module'];
        definition = { deps, factory };
      };
      define.amd = {};
      const previous = window.define;
      window.define = define;
      const script = document.createElement('script');
      script.src = url;
      script.crossOrigin = 'anonymous';
      const done = () => {
        window.define = previous;
        script.remove();
      };
      script.onerror = () => {
        done();
        reject(new Error(`could not load ${url}`));
      };
      script.onload = () => {
        done();
        if (!definition) return reject(new Error(`${url} did not call define()`));
        try {
          const exports = {};
          const result = typeof definition.factory === 'function' ? definition.factory(...resolveDeps(definition.deps, url, exports)) : definition.factory;
          resolve(result ?? exports);
        } catch (e) {
          reject(e);
        }
      };
      document.head.appendChild(script);
    });
  }

  /** Loads one AMD module by URL (one at a time, as each script's define() must be told apart). */
  return function importModule(url) {
    const absolute = new URL(url, document.baseURI).href;
    const next = queue.then(() => loadOne(absolute));
    queue = next.catch(() => undefined);
    return next;
  };
}
