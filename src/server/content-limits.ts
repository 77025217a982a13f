// Limits on message content as it is received: the maximum message size (RabbitMQ's
// max_message_size, 128 MiB by default, checked against the body size the content header
// declares, before any of the body is buffered), and one budget, shared by all connections, for
// the bodies of messages still being received. Without the budget, clients that start large
// messages on many channels and never finish them could make the broker hold any amount of
// memory; with it, a message that does not fit is refused (406, channel closed) and nothing of
// it is kept.
import * as os from 'node:os';

export const DEFAULT_MAX_MESSAGE_SIZE = 128 * 1024 * 1024;
// RabbitMQ refuses max_message_size above 512 MiB.
export const MAX_MAX_MESSAGE_SIZE = 512 * 1024 * 1024;

const BUDGET = Math.max(256 * 1024 * 1024, Math.min(2 * 1024 * 1024 * 1024, Math.floor(os.totalmem() / 4)));
let inFlight = 0;

// Why a message of this size cannot be received, or null (and then its size is reserved until
// releaseContent is called with it).
export function admitContent(bodySize: number, maxMessageSize: number): string | null {
  if (bodySize > maxMessageSize) {
    return maxMessageSize === DEFAULT_MAX_MESSAGE_SIZE
      ? `message size ${bodySize} is larger than max size ${maxMessageSize}`
      : `message size ${bodySize} is larger than configured max size ${maxMessageSize}`;
  }
  if (bodySize > 0 && inFlight + bodySize > BUDGET) {
    return `message size ${bodySize} cannot be received now: messages being received on all connections already take ${inFlight} bytes (limit ${BUDGET})`;
  }
  inFlight += bodySize;
  return null;
}

export function releaseContent(bodySize: number): void {
  inFlight -= bodySize;
  if (inFlight < 0) inFlight = 0;
}

export function contentInFlight(): number { return inFlight; }
