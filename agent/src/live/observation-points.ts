import { ObservationPoints, TAP_SIDES, TapSideCode } from '../flow/tap-side';
import { behindPort, interfaceRole, InterfaceRoleConfig, InterfaceRole, liveTapSide } from './interface-roles';

interface Port {
  name: string;
  role: InterfaceRole;
  gatewaySide?: 'client' | 'server';
}

/** The capture points (interfaces by index) of a live agent and the tap_side each gives a flow. */
export class LiveObservationPoints implements ObservationPoints {
  private readonly ports = new Map<number, Port>();

  constructor(private readonly config: InterfaceRoleConfig = {}) {}

  addInterface(index: number, name: string): void {
    this.ports.set(index, { name, role: interfaceRole(name, this.config), gatewaySide: this.config.gateway?.[name] ?? this.config.gatewayHypervisor?.[name] });
  }

  interfaceName(index: number): string | undefined {
    return this.ports.get(index)?.name;
  }

  tapSide(tapPort: number, addressSide: number, outgoing: boolean, packetFromClient: boolean): number {
    const port = this.ports.get(tapPort);
    if (!port) return addressSide;
    const side = liveTapSide({
      role: port.role,
      clientLocal: addressSide === TapSideCode.c || addressSide === TapSideCode.local,
      serverLocal: addressSide === TapSideCode.s || addressSide === TapSideCode.local,
      clientBehindPort: port.role === 'node' || port.role === 'hypervisor' ? behindPort(outgoing, packetFromClient) : undefined,
      gatewaySide: port.gatewaySide,
    });
    const code = (TAP_SIDES as readonly string[]).indexOf(side);
    return code >= 0 ? code : addressSide;
  }
}
