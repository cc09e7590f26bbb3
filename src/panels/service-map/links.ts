/**
 * Data links of a node or an edge, through Grafana's data-link API: built-in links (the request
 * log of an edge or a service in Explore, the RED dashboard of a service) and the links the user
 * configured on the frames' `id` field (field config), all resolved by `getLinksSupplier` against
 * the model's frames, so `${__data.fields.<name>}`, `${__url_time_range}` and dashboard variables
 * work in every one of them.
 */
import { DataFrame, DataLink, DataQueryRequest, Field, getLinksSupplier, InterpolateFunction, LinkModel, TimeRange } from '@grafana/data';

import { EXTERNAL_GROUP_ID, MapEdge, MapLevel, MapNode, ServiceMapModel } from './map-model';
import { LinkOptions } from './types';

export const DATASOURCE_TYPE = 'metaflow-datasource';
/** Most members a group's filter lists before it leaves that side unfiltered. */
const MAX_FILTER_VALUES = 50;

export interface LinkContext {
  options: LinkOptions;
  /** Data source of the request-log link when the options name none. */
  datasourceUid: string;
  timeRange: TimeRange;
  replaceVariables: InterpolateFunction;
  timeZone?: string;
}

interface Filter {
  tag: string;
  op: '=' | 'in';
  values: string[];
}

/** Request-log tag of a level, per side (`_0` client, `_1` server); none for host (one column). */
const LEVEL_TAG: Record<MapLevel, string | null> = { service: 'service', process: 'process', ip: 'ip', container: 'container', host: null };

/** The data source a frame came from: its query's, else the panel's first query's. */
export function datasourceOf(request: DataQueryRequest | undefined, refId?: string): string | undefined {
  const targets = request?.targets ?? [];
  const target = targets.find((t) => t.refId === refId) ?? targets[0];
  const uid = target?.datasource?.uid;
  // Mixed / dashboard pseudo data sources are not where the request log is.
  return uid && !uid.startsWith('-- ') ? uid : undefined;
}

/** The request-log filter of one side of an edge (`_0` client, `_1` server), given the field that holds its name. */
function sideFilter(model: ServiceMapModel, node: MapNode | undefined, side: 0 | 1, field: string): Filter | undefined {
  if (!node) {
    return undefined;
  }
  const single = node.members.length === 1 && node.members[0] === node.id;
  if (single) {
    const tag = LEVEL_TAG[model.level];
    return tag ? { tag: `${tag}_${side}`, op: '=', values: [`\${__data.fields.${field}}`] } : undefined;
  }
  if (model.grouping === 'address' && node.id !== EXTERNAL_GROUP_ID) {
    return { tag: `ip_${side}`, op: '=', values: [`\${__data.fields.${field}}`] };
  }
  const tag = LEVEL_TAG[model.level];
  return tag && node.members.length <= MAX_FILTER_VALUES ? { tag: `${tag}_${side}`, op: 'in', values: node.members } : undefined;
}

/** A MetaFlow data source query (model version 2) of the request log. */
export function requestLogQuery(datasourceUid: string, filters: Filter[], tapSide: string[]) {
  return {
    refId: 'A',
    datasource: { type: DATASOURCE_TYPE, uid: datasourceUid },
    version: 2,
    mode: 'builder',
    dataType: 'l7_flow_log',
    interval: 'auto',
    metrics: [],
    groupBy: [],
    filters,
    tapSide,
    orderBy: [],
    format: 'logs',
    limit: 1000,
  };
}

function explore(title: string, query: ReturnType<typeof requestLogQuery>, range: TimeRange): DataLink {
  return { title, url: '', internal: { datasourceUid: query.datasource.uid, datasourceName: 'MetaFlow', query, range } };
}

function datasourceUid(ctx: LinkContext): string {
  // Either may be a variable (`${ds}`): Explore needs the uid itself.
  return ctx.replaceVariables(ctx.options.datasourceUid.trim() || ctx.datasourceUid);
}

/** Built-in links of an edge: its request log in Explore. */
export function edgeDataLinks(model: ServiceMapModel, edge: MapEdge, ctx: LinkContext): DataLink[] {
  if (!ctx.options.builtIn) {
    return [];
  }
  const byId = new Map(model.nodes.map((n) => [n.id, n]));
  const filters = [sideFilter(model, byId.get(edge.source), 0, 'source'), sideFilter(model, byId.get(edge.target), 1, 'target')].filter((f): f is Filter => f !== undefined);
  if (filters.length === 0) {
    // Nothing names either end in the request log (host level): a link would show every request.
    return [];
  }
  const tapSide = edge.tapSide.split(' ').filter(Boolean);
  return [explore('Request log of this edge', requestLogQuery(datasourceUid(ctx), filters, tapSide), ctx.timeRange)];
}

/** Built-in links of a node: its RED dashboard (services, not callers) and its request log. */
export function nodeDataLinks(model: ServiceMapModel, node: MapNode, ctx: LinkContext): DataLink[] {
  if (!ctx.options.builtIn) {
    return [];
  }
  const links: DataLink[] = [];
  const url = ctx.options.redDashboardUrl.trim();
  if (!node.external && url && node.kind !== 'group') {
    links.push({ title: 'RED dashboard of this service', url });
  }
  const side = node.external ? 0 : 1;
  const filter = sideFilter(model, node, side, 'id');
  if (filter) {
    links.push(explore(node.external ? 'Request log of this client' : 'Request log of this service', requestLogQuery(datasourceUid(ctx), [filter], []), ctx.timeRange));
  }
  return links;
}

function resolve(frame: DataFrame, row: number, links: DataLink[], ctx: LinkContext): LinkModel[] {
  const idField = frame.fields.find((f) => f.name === 'id');
  if (!idField) {
    return [];
  }
  const userLinks = idField.config.links ?? [];
  const field: Field = { ...idField, config: { ...idField.config, links: [...links, ...userLinks] } };
  return getLinksSupplier(frame, field, {}, ctx.replaceVariables, ctx.timeZone)({ valueRowIndex: row });
}

export function edgeLinks(model: ServiceMapModel, edge: MapEdge, ctx: LinkContext): LinkModel[] {
  return resolve(model.edgeFrame, edge.row, edgeDataLinks(model, edge, ctx), ctx);
}

export function nodeLinks(model: ServiceMapModel, node: MapNode, ctx: LinkContext): LinkModel[] {
  return resolve(model.nodeFrame, node.row, nodeDataLinks(model, node, ctx), ctx);
}
