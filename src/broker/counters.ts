// Broker-wide counters that only grow, for RabbitMQ's global and churn metrics
// (rabbitmq_global_messages_*_total, rabbitmq_{connections,channels}_{opened,closed}_total,
// rabbitmq_queues_{declared,created,deleted}_total) and the message-size histogram. The server
// and broker layers bump plain fields on one object (no allocation on the hot path);
// src/management reads them.
import type { DeathReason } from './queue';

export const counters = {
  connectionsOpened: 0,
  connectionsClosed: 0,
  channelsOpened: 0,
  channelsClosed: 0,
  queuesDeclared: 0,
  queuesCreated: 0,
  queuesDeleted: 0,
  received: 0,             // basic.publish bodies received
  receivedConfirm: 0,      // ... on channels in confirm mode
  unroutableDropped: 0,    // routed nowhere, not mandatory
  unroutableReturned: 0,   // routed nowhere, returned (basic.return)
  confirmed: 0,            // basic.ack confirms sent
  deliveredConsumeManualAck: 0,
  deliveredConsumeAutoAck: 0,
  deliveredGetManualAck: 0,
  deliveredGetAutoAck: 0,
  getEmpty: 0,
  redelivered: 0,
  acknowledged: 0,         // basic.ack from consumers (each message of a multiple ack)
};

// Dead-lettered messages by reason; "disabled" when the queue had no dead-letter exchange
// (the message was dropped), "at_most_once" when it was republished.
export const deadLettered: Record<DeathReason, { disabled: number; at_most_once: number }> = {
  expired: { disabled: 0, at_most_once: 0 },
  maxlen: { disabled: 0, at_most_once: 0 },
  rejected: { disabled: 0, at_most_once: 0 },
  delivery_limit: { disabled: 0, at_most_once: 0 },
};

// Sizes of received message bodies: RabbitMQ's buckets (rabbit_msg_size_metrics), counts per
// bucket (not cumulative) and, in the last slot, the sum of sizes.
export const MESSAGE_SIZE_BUCKETS = [100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 50_000_000, 100_000_000];
export const messageSizes = new Float64Array(MESSAGE_SIZE_BUCKETS.length + 2);

export function received(bytes: number, confirm: boolean): void {
  counters.received++;
  if (confirm) counters.receivedConfirm++;
  let i = 0;
  while (i < MESSAGE_SIZE_BUCKETS.length && bytes > MESSAGE_SIZE_BUCKETS[i]) i++;
  messageSizes[i]++;
  messageSizes[MESSAGE_SIZE_BUCKETS.length + 1] += bytes;
}
