import React, { useCallback, useEffect, useId, useMemo, useRef, useState } from 'react';
import { PanelProps } from '@grafana/data';
import { useStyles2, useTheme2 } from '@grafana/ui';

import { detailRows } from './details';
import { EdgesLayer } from './EdgesLayer';
import { encodeMap, NODE_RADIUS, paletteOf } from './encoding';
import { highlightOf } from './highlight';
import { LinksMenu } from './LinksMenu';
import { datasourceOf, edgeLinks, LinkContext, nodeLinks } from './links';
import { buildMapModel } from './map-model';
import { MapToolbar } from './MapToolbar';
import { MapTooltip } from './MapTooltip';
import { migrateOptions } from './migration';
import { NodesLayer } from './NodesLayer';
import { getStyles, TOOLBAR_HEIGHT } from './styles';
import { ServiceMapOptions } from './types';
import { useLayout } from './use-layout';
import { useViewport } from './use-viewport';
import { boundsOf } from './viewport';

type Props = PanelProps<ServiceMapOptions>;

/** A node or edge under the pointer or clicked: its kind, index in the model, and where. */
interface Target {
  kind: 'node' | 'edge';
  index: number;
  x: number;
  y: number;
}

/** The request log's data source when neither the options nor the query name one (the provisioned uid). */
const FALLBACK_DATASOURCE = 'metaflow';
/** Labels show from this zoom on (auto mode). */
const LABEL_ZOOM = 0.55;

function targetOf(event: React.MouseEvent, root: HTMLElement | null): Target | null {
  const el = (event.target as Element).closest?.('[data-kind]');
  if (!el || !root) {
    return null;
  }
  const kind = el.getAttribute('data-kind');
  const index = Number(el.getAttribute('data-index'));
  if ((kind !== 'node' && kind !== 'edge') || !Number.isInteger(index)) {
    return null;
  }
  const rect = root.getBoundingClientRect();
  return { kind, index, x: event.clientX - rect.left, y: event.clientY - rect.top };
}

export function ServiceMapPanel({ id, data, width, height, options: saved, timeRange, timeZone, replaceVariables }: Props) {
  const options = useMemo(() => migrateOptions(saved), [saved]);
  const theme = useTheme2();
  const classes = useStyles2(getStyles);
  const palette = useMemo(() => paletteOf(theme), [theme]);
  const markerId = `servicemap-${useId().replace(/[^a-zA-Z0-9_-]/g, '')}`;

  const model = useMemo(() => buildMapModel(data.series, { grouping: options.grouping, tapSideMode: options.tapSideMode }), [data.series, options.grouping, options.tapSideMode]);
  const encoded = useMemo(() => encodeMap(model, options, palette), [model, options, palette]);
  const { layout, ready, error } = useLayout(model, String(id));
  const positions = layout?.positions;

  const viewHeight = Math.max(0, height - TOOLBAR_HEIGHT);
  const bounds = useMemo(() => (positions && positions.size ? boundsOf(positions.values(), NODE_RADIUS.max + 30) : null), [positions]);
  const root = useRef<HTMLDivElement>(null);
  const viewport = useViewport(bounds, width, viewHeight);

  const [search, setSearch] = useState('');
  const [hover, setHover] = useState<Target | null>(null);
  const [menu, setMenu] = useState<Target | null>(null);
  const focus = hover?.kind === 'node' ? model.nodes[hover.index]?.id : undefined;
  const highlight = useMemo(() => highlightOf(model, search, focus), [model, search, focus]);

  const showLabels = options.labels === 'always' || (options.labels === 'auto' && viewport.transform.k >= LABEL_ZOOM);

  const linkContext: LinkContext = useMemo(
    () => ({
      options: options.links,
      datasourceUid: datasourceOf(data.request) ?? FALLBACK_DATASOURCE,
      timeRange,
      replaceVariables,
      timeZone,
    }),
    [options.links, data.request, timeRange, replaceVariables, timeZone],
  );

  const onMouseMove = useCallback((e: React.MouseEvent) => {
    const t = targetOf(e, root.current);
    setHover((h) => (t === null ? null : h && h.kind === t.kind && h.index === t.index && Math.abs(h.x - t.x) + Math.abs(h.y - t.y) < 2 ? h : t));
  }, []);

  const onClick = useCallback(
    (e: React.MouseEvent) => {
      if (viewport.wasDrag()) {
        return;
      }
      const t = targetOf(e, root.current);
      setMenu(t ? { ...t, x: e.clientX, y: e.clientY } : null);
    },
    [viewport],
  );

  // Escape closes the links menu wherever focus is: the menu opens without taking focus (the map
  // keeps its keyboard zoom), so the menu's own key handling does not always see the key.
  useEffect(() => {
    if (!menu) {
      return;
    }
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        setMenu(null);
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [menu]);

  const showMatches = useCallback(() => {
    if (!highlight || !positions || highlight.matches.length === 0) {
      return;
    }
    viewport.fit(boundsOf(highlight.matches.map((m) => positions.get(m)).filter((p): p is [number, number] => p !== undefined), NODE_RADIUS.max + 60));
  }, [highlight, positions, viewport]);

  const menuContent = useMemo(() => {
    if (!menu) {
      return null;
    }
    if (menu.kind === 'node') {
      const node = model.nodes[menu.index];
      return node ? { title: node.title, links: nodeLinks(model, node, linkContext) } : null;
    }
    const edge = model.edges[menu.index];
    return edge ? { title: `${edge.source} → ${edge.target}`, links: edgeLinks(model, edge, linkContext) } : null;
  }, [menu, model, linkContext]);

  const tooltip = useMemo(() => {
    if (!hover || menu) {
      return null;
    }
    if (hover.kind === 'node') {
      const node = model.nodes[hover.index];
      return node && { title: node.title, subtitle: node.subtitle, rows: detailRows(model.nodeFrame, node.row, theme) };
    }
    const edge = model.edges[hover.index];
    return edge && { title: `${edge.source} → ${edge.target}`, subtitle: edge.connectionFailures > 0 ? 'TCP connections failed' : undefined, rows: detailRows(model.edgeFrame, edge.row, theme) };
  }, [hover, menu, model, theme]);

  const state = model.nodes.length === 0 ? 'empty' : ready ? 'ready' : 'layout';
  const summary = `${model.nodes.length} nodes, ${model.edges.length} edges${model.collapsed ? ` (${model.collapsed} seen at another point)` : ''}`;
  const t = viewport.transform;

  return (
    <div
      ref={root}
      className={classes.root}
      style={{ width, height }}
      data-testid="metaflow-servicemap-panel"
      data-render-state={state}
      data-layout-engine={layout?.engine}
      data-layout-ms={layout ? Math.round(layout.ms) : undefined}
      data-node-count={model.nodes.length}
      data-edge-count={model.edges.length}
    >
      <MapToolbar
        search={search}
        onSearch={setSearch}
        onSubmit={showMatches}
        onZoomIn={() => viewport.zoomBy(1.4)}
        onZoomOut={() => viewport.zoomBy(1 / 1.4)}
        onFit={() => viewport.fit()}
        summary={summary}
        classes={classes}
      />
      {state === 'empty' ? (
        <div className={classes.message} data-testid="metaflow-servicemap-empty" style={{ height: viewHeight }}>
          No service map in the data: this panel draws the frames named nodes and edges of a service map query.
        </div>
      ) : (
        <svg
          ref={viewport.svgRef}
          className={classes.svg}
          width={width}
          height={viewHeight}
          role="img"
          aria-label="service map"
          onPointerDown={viewport.onPointerDown}
          onPointerMove={viewport.onPointerMove}
          onPointerUp={viewport.onPointerUp}
          onMouseMove={onMouseMove}
          onMouseLeave={() => setHover(null)}
          onClick={onClick}
        >
          {positions && (
            <g transform={`translate(${t.x},${t.y}) scale(${t.k})`} data-testid="servicemap-view">
              <EdgesLayer
                edges={model.edges}
                styles={encoded.edges}
                nodes={model.nodes}
                nodeStyles={encoded.nodes}
                positions={positions}
                highlight={highlight}
                palette={palette}
                classes={classes}
                markerId={markerId}
              />
              <NodesLayer nodes={model.nodes} styles={encoded.nodes} positions={positions} highlight={highlight} showLabels={showLabels} palette={palette} classes={classes} />
            </g>
          )}
          {error && (
            <text x={8} y={20} fill={palette.critical}>
              Layout failed: {error}
            </text>
          )}
        </svg>
      )}
      {tooltip && <MapTooltip {...tooltip} x={hover?.x ?? 0} y={hover?.y ?? 0} width={width} height={height} classes={classes} />}
      {menu && menuContent && <LinksMenu title={menuContent.title} links={menuContent.links} x={menu.x} y={menu.y} onClose={() => setMenu(null)} classes={classes} />}
    </div>
  );
}
