// How a message inside a queue is named while a channel holds it (delivery tags map to refs).
// A ref is one number, not an object, so that an unacked list of millions costs a few bytes per
// entry and a delivery allocates nothing; this module is the only place that knows its encoding:
//   >= 0   a record in the queue's log: offset * LANES + lane (lane = priority level)
//   <  0   a direct delivery held in memory (direct-delivery.ts), -(arrival sequence)
export type MessageRef = number & { readonly __messageRef: unique symbol };

/** priority lanes a ref can name (x-max-priority is at most 255) */
export const LANES = 256;

export function logRef(lane: number, offset: number): MessageRef {
  return (offset * LANES + lane) as MessageRef;
}

export function heldRef(seq: number): MessageRef {
  return -seq as MessageRef;
}

export function isHeld(ref: MessageRef): boolean {
  return ref < 0;
}

export function laneOf(ref: MessageRef): number {
  return ref % LANES;
}

export function offsetOf(ref: MessageRef): number {
  return Math.floor(ref / LANES);
}
