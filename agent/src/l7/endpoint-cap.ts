/**
 * Bounds endpoint cardinality per service: the first `maxPerService` distinct endpoints of a
 * service keep their names, later ones are reported as `other` (and counted), so a service that
 * puts ids in its paths cannot flood the RED tables. Bounded in services too (oldest forgotten).
 */
export const OTHER_ENDPOINT = 'other';

export class EndpointCap {
  private readonly services = new Map<string, Set<string>>();
  /** Records whose endpoint was folded into `other`. */
  folded = 0;
  /** Services forgotten so far: a caller's memo of endpoints kept is good while this stays. */
  evictions = 0;

  constructor(
    private readonly maxPerService = 1000,
    private readonly maxServices = 100_000,
  ) {}

  endpoint(service: string, endpoint: string): string {
    let seen = this.services.get(service);
    if (!seen) {
      if (this.services.size >= this.maxServices) {
        this.services.delete(this.services.keys().next().value as string);
        this.evictions++;
      }
      seen = new Set();
      this.services.set(service, seen);
    }
    if (seen.has(endpoint)) return endpoint;
    if (seen.size < this.maxPerService) {
      seen.add(endpoint);
      return endpoint;
    }
    this.folded++;
    return OTHER_ENDPOINT;
  }
}
