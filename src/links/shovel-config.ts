// A dynamic shovel's definition (the value of a `shovel` runtime parameter) read and checked
// with RabbitMQ's keys and reasons. Pure: no broker, no sockets. parameters.ts uses
// validateShovel() to refuse a bad value before it is stored; the shovel worker uses
// parseShovel() on stored (hence valid) values.
import type { BasicProperties, FieldTable } from '../protocol';

export type AckMode = 'on-confirm' | 'on-publish' | 'no-ack';
export type DeleteAfter = 'never' | 'queue-length' | number;

export interface ShovelConfig {
  srcUris: string[];
  srcQueue?: string;
  srcExchange?: string;
  srcExchangeKey: string;
  srcQueueArgs: FieldTable;
  srcConsumerArgs: FieldTable;
  prefetch: number;
  deleteAfter: DeleteAfter;
  destUris: string[];
  destQueue?: string;
  destQueueArgs: FieldTable;
  destExchange?: string;
  destExchangeKey?: string;
  publishProperties: BasicProperties;
  addForwardHeaders: boolean;
  addTimestampHeader: boolean;
  ackMode: AckMode;
  /** seconds; 0: a failed shovel is not restarted (as in RabbitMQ) */
  reconnectDelay: number;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

// The keys RabbitMQ 3.10 accepts for an AMQP 0-9-1 dynamic shovel (and the pre-3.7 names it
// still reads: prefetch-count, delete-after, add-forward-headers).
const KNOWN = new Set([
  'src-uri', 'src-protocol', 'src-queue', 'src-exchange', 'src-exchange-key', 'src-queue-args', 'src-consumer-args',
  'src-prefetch-count', 'prefetch-count', 'src-delete-after', 'delete-after',
  'dest-uri', 'dest-protocol', 'dest-queue', 'dest-queue-args', 'dest-exchange', 'dest-exchange-key',
  'dest-publish-properties', 'dest-add-forward-headers', 'add-forward-headers', 'dest-add-timestamp-header',
  'ack-mode', 'reconnect-delay',
]);

// basic properties as RabbitMQ's dest-publish-properties names them
const PROPERTY_KEYS: Record<string, keyof BasicProperties> = {
  content_type: 'contentType', content_encoding: 'contentEncoding', headers: 'headers', delivery_mode: 'deliveryMode',
  priority: 'priority', correlation_id: 'correlationId', reply_to: 'replyTo', expiration: 'expiration',
  message_id: 'messageId', timestamp: 'timestamp', type: 'type', user_id: 'userId', app_id: 'appId', cluster_id: 'clusterId',
};
const NUMERIC_PROPERTIES = new Set(['delivery_mode', 'priority', 'timestamp']);

function uriProblem(v: unknown, key: string): string | null {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) return `${key} must not be an empty list`;
  for (const u of list) {
    if (!isStr(u)) return `${key} should be a URI or a list of URIs`;
    if (!/^amqps?:\/\//.test(u)) return `"${u}" not a valid URI`;
  }
  return null;
}

/** Everything wrong with a shovel definition, in RabbitMQ's words; empty when it is valid. */
export function validateShovel(value: unknown): string[] {
  if (!isObj(value)) return ['shovel definition must be a JSON object'];
  const out: string[] = [];
  const unknown = Object.keys(value).filter((k) => !KNOWN.has(k));
  if (unknown.length > 0) out.push(`Unrecognised terms ${unknown.map((k) => `"${k}"`).join(', ')} in shovel`);
  for (const k of ['src-uri', 'dest-uri']) {
    if (value[k] === undefined) out.push(`Key "${k}" not found in shovel`);
    else { const p = uriProblem(value[k], k); if (p) out.push(p); }
  }
  for (const k of ['src-protocol', 'dest-protocol']) {
    if (value[k] !== undefined && value[k] !== 'amqp091') {
      out.push(value[k] === 'amqp10' ? `${k} amqp10 is not supported by Warren (AMQP 0-9-1 only)` : `${k} should be "amqp091" or "amqp10"`);
    }
  }
  const hasSrcQ = value['src-queue'] !== undefined, hasSrcX = value['src-exchange'] !== undefined;
  if (!hasSrcQ && !hasSrcX) out.push("Must specify 'src-queue' or 'src-exchange'");
  if (hasSrcQ && hasSrcX) out.push("Cannot specify 'src-queue' and 'src-exchange'");
  if (value['dest-queue'] !== undefined && value['dest-exchange'] !== undefined) out.push("Cannot specify 'dest-queue' and 'dest-exchange'");
  for (const k of ['src-queue', 'src-exchange', 'src-exchange-key', 'dest-queue', 'dest-exchange', 'dest-exchange-key']) {
    if (value[k] !== undefined && !isStr(value[k])) out.push(`${k} should be a string`);
  }
  if (value['src-exchange-key'] !== undefined && !hasSrcX) out.push("'src-exchange-key' needs 'src-exchange'");
  for (const k of ['src-queue-args', 'src-consumer-args', 'dest-queue-args', 'dest-publish-properties']) {
    if (value[k] !== undefined && !isObj(value[k])) out.push(`${k} should be a JSON object`);
  }
  for (const k of ['src-prefetch-count', 'prefetch-count', 'reconnect-delay']) {
    if (value[k] !== undefined && !isNat(value[k])) out.push(`${k} should be a non-negative integer`);
  }
  for (const k of ['dest-add-forward-headers', 'add-forward-headers', 'dest-add-timestamp-header']) {
    if (value[k] !== undefined && typeof value[k] !== 'boolean') out.push(`${k} should be a boolean`);
  }
  const ack = value['ack-mode'];
  if (ack !== undefined && ack !== 'on-confirm' && ack !== 'on-publish' && ack !== 'no-ack') {
    out.push(`ack-mode should be "on-confirm", "on-publish" or "no-ack"`);
  }
  for (const k of ['src-delete-after', 'delete-after']) {
    const d = value[k];
    if (d !== undefined && d !== 'never' && d !== 'queue-length' && !isNat(d)) out.push(`${k} should be a number, "never" or "queue-length"`);
    if (typeof d === 'number' && ack === 'no-ack') out.push("Cannot specify 'no-ack' and numerical 'delete-after'");
  }
  if (value['src-delete-after'] === 'queue-length' && hasSrcX) out.push("'src-delete-after': 'queue-length' needs 'src-queue'");
  const pp = value['dest-publish-properties'];
  if (isObj(pp)) {
    for (const [k, v] of Object.entries(pp)) {
      if (PROPERTY_KEYS[k] === undefined) out.push(`dest-publish-properties: unknown property "${k}"`);
      else if (k === 'headers' ? !isObj(v) : NUMERIC_PROPERTIES.has(k) ? !isNat(v) : !isStr(v)) out.push(`dest-publish-properties: bad value for "${k}"`);
    }
  }
  return out;
}

/** The shovel a valid definition describes (validateShovel(value) must be empty). */
export function parseShovel(value: Record<string, unknown>): ShovelConfig {
  const uris = (v: unknown) => (Array.isArray(v) ? v : [v]) as string[];
  const str = (k: string) => (isStr(value[k]) ? value[k] : undefined);
  const table = (k: string) => (isObj(value[k]) ? value[k] : {}) as FieldTable;
  const publishProperties: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(table('dest-publish-properties'))) publishProperties[PROPERTY_KEYS[k]] = v;
  return {
    srcUris: uris(value['src-uri']),
    srcQueue: str('src-queue'),
    srcExchange: str('src-exchange'),
    srcExchangeKey: str('src-exchange-key') ?? '#',
    srcQueueArgs: table('src-queue-args'),
    srcConsumerArgs: table('src-consumer-args'),
    prefetch: (value['src-prefetch-count'] ?? value['prefetch-count'] ?? 1000) as number,
    deleteAfter: (value['src-delete-after'] ?? value['delete-after'] ?? 'never') as DeleteAfter,
    destUris: uris(value['dest-uri']),
    destQueue: str('dest-queue'),
    destQueueArgs: table('dest-queue-args'),
    destExchange: str('dest-exchange'),
    destExchangeKey: str('dest-exchange-key'),
    publishProperties: publishProperties as BasicProperties,
    addForwardHeaders: (value['dest-add-forward-headers'] ?? value['add-forward-headers'] ?? false) as boolean,
    addTimestampHeader: (value['dest-add-timestamp-header'] ?? false) as boolean,
    ackMode: (value['ack-mode'] ?? 'on-confirm') as AckMode,
    reconnectDelay: (value['reconnect-delay'] ?? 1) as number,
  };
}
