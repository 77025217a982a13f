// Link statuses in the shapes of RabbitMQ's /api/shovels and /api/federation-links.
import type { Shovel } from './shovel';

export type ShovelStatus = Record<string, unknown>;

// RabbitMQ's timestamps in these statuses: "2024-01-31 12:34:56" (local time of the node)
export function statusTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function shovelStatus(s: Shovel, node: string): ShovelStatus {
  // counts (RabbitMQ 3.13's names) in every state: forwarded and settled, awaiting a confirm,
  // left before src-delete-after (null: never)
  const base: ShovelStatus = {
    node, timestamp: statusTime(s.since), name: s.name, vhost: s.vhost, type: 'dynamic', state: s.state,
    forwarded: s.forwarded, pending: s.pending, remaining: s.remaining,
  };
  if (s.state === 'terminated') return { ...base, reason: s.reason ?? '' };
  if (s.state === 'starting') return base;
  const c = s.config;
  return {
    ...base,
    src_uri: s.srcUri, src_protocol: 'amqp091',
    ...(c.srcQueue !== undefined ? { src_queue: c.srcQueue } : { src_exchange: c.srcExchange, src_exchange_key: c.srcExchangeKey }),
    dest_uri: s.destUri, dest_protocol: 'amqp091',
    ...(c.destQueue !== undefined ? { dest_queue: c.destQueue } : {}),
    ...(c.destExchange !== undefined ? { dest_exchange: c.destExchange } : {}),
    ...(c.destExchangeKey !== undefined ? { dest_exchange_key: c.destExchangeKey } : {}),
    blocked_status: s.state === 'blocked' ? 'blocked' : 'running',
  };
}
