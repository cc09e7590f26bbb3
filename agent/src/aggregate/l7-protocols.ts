/** Application protocol codes kept per flow; index 0 means not identified (stored as ''). */
export const L7_PROTOCOL_NAMES = ['', 'http1', 'http2', 'grpc', 'dubbo', 'mysql', 'redis', 'kafka', 'mqtt', 'dns', 'tls'] as const;
