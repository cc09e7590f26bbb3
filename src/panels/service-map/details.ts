/**
 * What a tooltip shows of a node or an edge: every field of its row in the model's frames, by
 * display name, formatted with the field's unit (Grafana's display processor).
 */
import { DataFrame, Field, formattedValueToString, getDisplayProcessor, getFieldDisplayName, GrafanaTheme2 } from '@grafana/data';

export interface DetailRow {
  label: string;
  value: string;
}

/** Fields a tooltip leaves out: names shown in its title, and the complement of the error arc. */
const HIDDEN = new Set(['id', 'title', 'subtitle', 'source', 'target', 'arc__ok']);

function displayOf(field: Field, theme: GrafanaTheme2) {
  if (field.display) {
    return field.display;
  }
  // Node Graph arcs are fractions without a unit: show them as percentages.
  const config = field.name.startsWith('arc__') && !field.config.unit ? { ...field.config, unit: 'percentunit' } : field.config;
  return getDisplayProcessor({ field: { ...field, config }, theme });
}

export function detailRows(frame: DataFrame, row: number, theme: GrafanaTheme2): DetailRow[] {
  const rows: DetailRow[] = [];
  for (const field of frame.fields) {
    if (HIDDEN.has(field.name)) {
      continue;
    }
    const raw = field.values[row];
    if (raw === null || raw === undefined || raw === '') {
      continue;
    }
    const label = getFieldDisplayName(field, frame).replace(/^detail__/, '').replace(/_/g, ' ');
    rows.push({ label, value: formattedValueToString(displayOf(field, theme)(raw)) });
  }
  return rows;
}
