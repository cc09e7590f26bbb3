/**
 * The host pages' @grafana/runtime (the service-map preview, the browser-test harness pages): what
 * a data source plugin reaches through it, behaving like Grafana 12's BackendSrv and TemplateSrv
 * (public/app/core/services/backend_srv.ts, public/app/features/templating/template_srv.ts) as far
 * as a proxy-access plugin can tell, and the DataSourceWithBackend base class.
 */
/* global Headers, Blob, URLSearchParams, AbortController, fetch -- browser */
import { DataSourceApi } from '@grafana/data';
import { Observable, throwError } from 'rxjs';

/** Names a plugin used that this module does not provide (a browser test fails on any). */
export const missingExports = [];

// ---------------------------------------------------------------- BackendSrv

const isLocalUrl = (url) => !/^(https?:)?\/\//i.test(url);

function isContentTypeJson(headers) {
  const type = headers.get('content-type');
  return type !== null && type.toLowerCase().includes('application/json');
}

/** Body parsing as Grafana does it: JSON by content type, else text that may still parse as JSON. */
async function parseResponseBody(response, responseType) {
  if (responseType === 'json') return response.headers.get('Content-Length') === '0' ? undefined : response.json();
  if (responseType === 'text') return response.text();
  if (responseType === 'blob') return response.blob();
  if (responseType === 'arraybuffer') return response.arrayBuffer();
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function requestInit(options, signal) {
  const headers = new Headers(options.headers ?? {});
  if (!headers.has('Content-Type')) headers.set('Content-Type', 'application/json');
  if (!headers.has('Accept')) headers.set('Accept', 'application/json, text/plain, */*');
  const isJson = (headers.get('Content-Type') ?? '').toLowerCase().includes('application/json');
  let body;
  if (options.data === undefined || options.data === null || typeof options.data === 'string' || options.data instanceof Blob) body = options.data ?? undefined;
  else body = isJson ? JSON.stringify(options.data) : new URLSearchParams(options.data);
  return { method: options.method ?? 'GET', headers, body, credentials: options.credentials ?? 'same-origin', signal };
}

function requestUrl(options) {
  if (!options.params) return options.url;
  const qs = new URLSearchParams(Object.entries(options.params).filter(([, v]) => v !== undefined)).toString();
  return qs ? `${options.url}${options.url.includes('?') ? '&' : '?'}${qs}` : options.url;
}

/** FetchError with `data` an object, as Grafana's processRequestError makes it. */
function processRequestError(err) {
  err.data = err.data ?? { message: 'Unexpected error' };
  if (typeof err.data === 'string') err.data = { message: err.data, error: err.statusText, response: err.data };
  if (err.data && !err.data.message && typeof err.data.error === 'string') err.data.message = err.data.error;
  return err;
}

/** Every request the plugin made: the browser tests check where they went. */
export const requestLog = [];

class BackendSrv {
  fetch(input) {
    return new Observable((subscriber) => {
      const options = { ...input, headers: { ...(input.headers ?? {}) }, retry: input.retry ?? 0 };
      if (isLocalUrl(options.url)) {
        options.headers['X-Grafana-Org-Id'] = 1;
        // Grafana sends local URLs relative to <base href>; a caller's Authorization goes to X-DS-Authorization.
        if (options.url.startsWith('/')) options.url = options.url.substring(1);
        if (options.headers.Authorization) {
          options.headers['X-DS-Authorization'] = options.headers.Authorization;
          delete options.headers.Authorization;
        }
      }
      const controller = new AbortController();
      const url = requestUrl(options);
      const entry = { method: options.method ?? 'GET', url, status: undefined };
      requestLog.push(entry);
      fetch(url, requestInit(options, controller.signal))
        .then(async (response) => {
          const responseType = options.responseType ?? (isContentTypeJson(response.headers) ? 'json' : undefined);
          const data = await parseResponseBody(response, responseType);
          const { status, statusText, ok, headers, type, redirected } = response;
          entry.status = status;
          if (!ok) throw { status, statusText, data, config: options };
          subscriber.next({ status, statusText, ok, data, headers, url: response.url, type, redirected, config: options });
          subscriber.complete();
        })
        .catch((err) => {
          if (controller.signal.aborted) return;
          const fetchError = err instanceof Error ? { status: 0, statusText: err.message, data: { message: err.message }, config: options } : err;
          subscriber.error(processRequestError(fetchError));
        });
      return () => controller.abort();
    });
  }

  async request(options) {
    return new Promise((resolve, reject) => this.fetch(options).subscribe({ next: (r) => resolve(r.data), error: reject }));
  }

  datasourceRequest(options) {
    return new Promise((resolve, reject) => this.fetch(options).subscribe({ next: resolve, error: reject }));
  }

  get(url, params, requestId, options) {
    return this.request({ ...options, method: 'GET', url, params, requestId });
  }

  post(url, data, options) {
    return this.request({ ...options, method: 'POST', url, data });
  }
}

const backendSrv = new BackendSrv();
export const getBackendSrv = () => backendSrv;

// ---------------------------------------------------------------- TemplateSrv

/** $name, [[name]], [[name:format]], ${name}, ${name.field}, ${name:format} — Grafana's variable syntax. */
const VARIABLE_REGEX = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.([^:^\]]+))?(?::([^\]]+))?}/g;

function formatValue(value, format, variable) {
  if (value === null || value === undefined) return '';
  if (typeof format === 'function') return format(value, variable, formatValue);
  const values = Array.isArray(value) ? value : [value];
  switch (format ?? 'glob') {
    case 'csv':
      return values.join(',');
    case 'pipe':
      return values.join('|');
    case 'json':
      return JSON.stringify(value);
    case 'singlequote':
      return values.map((v) => `'${String(v).replace(/'/g, "\\'")}'`).join(',');
    case 'doublequote':
      return values.map((v) => `"${String(v).replace(/"/g, '\\"')}"`).join(',');
    case 'raw':
      return Array.isArray(value) ? values.join(',') : String(value);
    case 'glob':
    default:
      return values.length > 1 ? `{${values.join(',')}}` : String(values[0] ?? '');
  }
}

class TemplateSrv {
  constructor() {
    /** Dashboard variables: name → { current: { text, value } }, value a string or (multi) a list. */
    this.variables = new Map();
  }

  setVariables(variables) {
    this.variables = new Map(Object.entries(variables).map(([name, value]) => [name, { name, type: 'custom', multi: Array.isArray(value), current: { text: value, value } }]));
  }

  getVariables() {
    return [...this.variables.values()];
  }

  containsTemplate(target) {
    if (!target) return false;
    VARIABLE_REGEX.lastIndex = 0;
    return [...target.matchAll(VARIABLE_REGEX)].some((m) => this.variables.has(m[1] || m[2] || m[4]));
  }

  updateTimeRange() {}

  replace(target, scopedVars, format) {
    if (target === undefined || target === null) return target ?? '';
    return String(target).replace(VARIABLE_REGEX, (match, var1, var2, fmt2, var3, fieldPath, fmt3) => {
      const name = var1 || var2 || var3;
      const fmt = fmt2 || fmt3 || format;
      const scoped = scopedVars?.[name];
      if (scoped) {
        const value = fieldPath && typeof scoped.value === 'object' ? scoped.value?.[fieldPath] : scoped.value;
        return formatValue(value, fmt, { name, current: scoped });
      }
      const variable = this.variables.get(name);
      if (!variable) return match;
      return formatValue(variable.current.value, fmt, variable);
    });
  }
}

export const templateSrv = new TemplateSrv();
export const getTemplateSrv = () => templateSrv;

// ---------------------------------------------------------------- DataSourceWithBackend

/**
 * The base class of data sources with a backend executable. A host page has no Grafana server to
 * run that backend: a plugin that queries through the proxy (overriding `query`) works, one that
 * asks for the backend's `query` gets an error saying so.
 */
export class DataSourceWithBackend extends DataSourceApi {
  query() {
    return throwError(() => new Error('this page has no Grafana server to run plugin backends (POST /api/ds/query)'));
  }
}

