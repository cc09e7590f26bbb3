import { SelectableValue } from '@grafana/data';

/** Observation points of SPEC §1, for pickers. */
export const TAP_SIDE_OPTIONS: Array<SelectableValue<string>> = [
  { value: 's-p', label: 's-p', description: 'server process (eBPF)' },
  { value: 'c-p', label: 'c-p', description: 'client process (eBPF)' },
  { value: 's', label: 's', description: "server's NIC" },
  { value: 'c', label: 'c', description: "client's NIC" },
  { value: 'local', label: 'local', description: 'loopback or same host' },
  { value: 's-nd', label: 's-nd', description: "server's container node" },
  { value: 'c-nd', label: 'c-nd', description: "client's container node" },
  { value: 's-hv', label: 's-hv', description: "server's hypervisor" },
  { value: 'c-hv', label: 'c-hv', description: "client's hypervisor" },
  { value: 's-gw', label: 's-gw', description: 'gateway, server side' },
  { value: 'c-gw', label: 'c-gw', description: 'gateway, client side' },
  { value: 'rest', label: 'rest', description: 'other NIC (mirror)' },
  { value: 's-app', label: 's-app', description: 'server span (OpenTelemetry)' },
  { value: 'c-app', label: 'c-app', description: 'client span (OpenTelemetry)' },
];
