/** Options of the service map panel. It has none yet. */
export type ServiceMapOptions = Record<string, never>;
