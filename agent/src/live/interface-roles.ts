/**
 * Where a live packet was observed, from the interface it was captured on (SPEC §1): the host's
 * own NICs give `c`/`s`/`local`/`rest` from addresses; a container node's veth, bridge or tunnel
 * gives `c-nd`/`s-nd`; a hypervisor's tap or vnet gives `c-hv`/`s-hv`; interfaces configured as a
 * gateway's give `c-gw`/`s-gw` (and `c-gw-hv`/`s-gw-hv` for a gateway VM's hypervisor ports).
 */

export type InterfaceRole = 'host' | 'loopback' | 'node' | 'hypervisor' | 'gateway' | 'gateway-hypervisor';

export interface InterfaceRoleConfig {
  /** Interfaces of a gateway (router, load balancer, NAT) on the client or the server side. */
  gateway?: Record<string, 'client' | 'server'>;
  /** Hypervisor ports of a gateway VM, with the side the gateway faces. */
  gatewayHypervisor?: Record<string, 'client' | 'server'>;
  /** Explicit roles for names the patterns do not know. */
  roles?: Record<string, InterfaceRole>;
}

/** Name patterns of the usual Linux virtual interfaces. */
const NODE_PATTERNS = [/^veth/, /^cni/, /^docker\d*$/, /^br-/, /^cali/, /^flannel/, /^vxlan/, /^tunl/, /^geneve/, /^genev_sys/, /^cilium/, /^lxc/, /^kube-bridge$/, /^weave$/];
const HYPERVISOR_PATTERNS = [/^tap/, /^vnet\d/, /^vif\d/, /^qvo/, /^qvb/, /^tapvm/];

export function interfaceRole(name: string, config: InterfaceRoleConfig = {}): InterfaceRole {
  if (config.roles?.[name]) return config.roles[name];
  if (config.gatewayHypervisor?.[name]) return 'gateway-hypervisor';
  if (config.gateway?.[name]) return 'gateway';
  if (name === 'lo') return 'loopback';
  if (NODE_PATTERNS.some((p) => p.test(name))) return 'node';
  if (HYPERVISOR_PATTERNS.some((p) => p.test(name))) return 'hypervisor';
  return 'host';
}

export interface PacketPosition {
  role: InterfaceRole;
  /** Whether the flow's client / server address belongs to this host. */
  clientLocal: boolean;
  serverLocal: boolean;
  /**
   * For node and hypervisor ports: whether the flow's client is the endpoint behind the port (the
   * container or VM), known from the direction packets cross the port.
   */
  clientBehindPort?: boolean;
  /** For gateway ports: which side of the gateway the port faces. */
  gatewaySide?: 'client' | 'server';
}

/** The SPEC §1 tap_side of a packet flow seen at `p`. */
export function liveTapSide(p: PacketPosition): string {
  switch (p.role) {
    case 'loopback':
      return 'local';
    case 'node':
      return p.clientBehindPort === undefined ? addressSide(p) : p.clientBehindPort ? 'c-nd' : 's-nd';
    case 'hypervisor':
      return p.clientBehindPort === undefined ? addressSide(p) : p.clientBehindPort ? 'c-hv' : 's-hv';
    case 'gateway':
      return p.gatewaySide === 'server' ? 's-gw' : 'c-gw';
    case 'gateway-hypervisor':
      return p.gatewaySide === 'server' ? 's-gw-hv' : 'c-gw-hv';
    default:
      return addressSide(p);
  }
}

function addressSide(p: PacketPosition): string {
  if (p.clientLocal && p.serverLocal) return 'local';
  if (p.clientLocal) return 'c';
  if (p.serverLocal) return 's';
  return 'rest';
}

/**
 * Which end is behind a node or hypervisor port, from one packet: AF_PACKET marks packets the
 * host sends into the port as outgoing, so their destination is the endpoint behind it; the
 * source of a packet received from the port is.
 */
export function behindPort(outgoing: boolean, packetFromClient: boolean): boolean {
  // Outgoing into the port: the destination is behind it; incoming: the source is.
  return outgoing ? !packetFromClient : packetFromClient;
}
