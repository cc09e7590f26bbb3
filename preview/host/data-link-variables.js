/**
 * A panel's `replaceVariables`, as Grafana interpolates data links: the data-link macros
 * (`${__data.fields.x}`, `${__url_time_range}`, `${__from}`, `${__to}`), scoped variables,
 * dashboard variables (the TemplateSrv stand-in's) and formats (`:uriencode`, `:csv`, `:pipe`…).
 */
import * as grafanaData from '@grafana/data';
import * as lodash from 'lodash';

function formatValue(value, format) {
  const values = Array.isArray(value) ? value.map(String) : [String(value ?? '')];
  switch (format) {
    case 'uriencode':
    case 'percentencode':
      return values.map((v) => encodeURIComponent(v)).join(',');
    case 'csv':
    case 'raw':
      return values.join(',');
    case 'pipe':
      return values.join('|');
    case 'json':
      return JSON.stringify(value);
    default:
      return values.length > 1 ? `{${values.join(',')}}` : values[0];
  }
}

/** `${__data.fields.name}` (by name or display name; `.raw` for the raw value) of the link's row. */
function dataMacro(path, scopedVars) {
  const ctx = scopedVars?.__dataContext?.value;
  const m = /^fields(?:\.|\[")(.+?)(?:"\])?(\.raw)?$/.exec(path);
  if (!ctx?.frame || !m || ctx.rowIndex === undefined) return undefined;
  const field = ctx.frame.fields.find((f) => f.name === m[1] || f.config?.displayNameFromDS === m[1] || f.state?.displayName === m[1]);
  if (!field) return undefined;
  const raw = field.values[ctx.rowIndex];
  if (m[2] || !field.display) return raw;
  return grafanaData.formattedValueToString(field.display(raw));
}

/**
 * The `replaceVariables(value, scopedVars, format)` of a panel over `range`, with the dashboard
 * variables `templateSrv` holds when it is called.
 */
export function dataLinkInterpolator({ range, templateSrv }) {
  return (value, scopedVars, format) => {
    if (value === undefined || value === null) return '';
    return String(value).replace(/\$\{([^}:]+)(?::([^}]+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)/g, (match, expr, fmt1, bracket, fmt2, plain) => {
      const name = expr ?? bracket ?? plain;
      const fmt = fmt1 ?? fmt2 ?? format;
      if (name === '__url_time_range') return `from=${range.from.valueOf()}&to=${range.to.valueOf()}`;
      if (name === '__from') return String(range.from.valueOf());
      if (name === '__to') return String(range.to.valueOf());
      if (name.startsWith('__data.')) {
        const v = dataMacro(name.slice('__data.'.length), scopedVars);
        return v === undefined ? match : formatValue(v, fmt);
      }
      const [head, ...path] = name.split('.');
      const scoped = scopedVars?.[head];
      if (scoped && head !== '__dataContext') {
        const v = path.length && typeof scoped.value === 'object' ? lodash.get(scoped.value, path) : scoped.value;
        return formatValue(v, fmt);
      }
      const variable = templateSrv.variables.get(head);
      return variable ? formatValue(variable.current.value, fmt) : match;
    });
  };
}
