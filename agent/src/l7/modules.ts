import { dnsModule } from './dns/dns-parser';
import { dubboModule } from './dubbo/dubbo-parser';
import { http1Module } from './http1/http1-parser';
import { http2Module } from './http2/http2-parser';
import { kafkaModule } from './kafka/kafka-parser';
import { L7ProtocolModule } from './l7-parser';
import { mqttModule } from './mqtt/mqtt-parser';
import { mysqlModule } from './mysql/mysql-parser';
import { redisModule } from './redis/redis-parser';
import { tlsModule } from './tls/tls-parser';

/**
 * Every application protocol the agent recognises. Inference asks each module in turn and a
 * 'yes' decides, so the order only matters for efficiency: the most distinctive first.
 */
export const ALL_L7_MODULES: readonly L7ProtocolModule[] = [
  tlsModule,
  http2Module,
  http1Module,
  dubboModule,
  mqttModule,
  mysqlModule,
  kafkaModule,
  redisModule,
  dnsModule,
];
