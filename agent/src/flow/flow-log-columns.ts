import { L4_FLOW_LOG } from '../store/tables';

/** Column order of `l4_flow_log` rows as the flow tracker writes them. */
export const L4_FLOW_LOG_COLUMNS: readonly string[] = L4_FLOW_LOG.columns.map((c) => c.name);
