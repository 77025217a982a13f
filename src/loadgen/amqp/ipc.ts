// Messages between the bench parent and its worker processes (child_process IPC, JSON).
import type { HistogramSnapshot } from './histogram';

export interface ProducerSpec {
  role: 'producer';
  id: number;
  url: string;
  /** connections opened by this worker, one channel each (S8 opens many) */
  connections: number;
  exchange: string;
  /** connection i publishes with routingKeys[i % length] */
  routingKeys: string[];
  size: number;
  persistent: boolean;
  /** confirm window per channel; 0 = no confirms */
  confirm: number;
  /** msg/s for the whole worker; 0 = as fast as possible */
  rate: number;
  /** messages to publish in all; 0 = until told to stop */
  count: number;
}

export interface ConsumerSpec {
  role: 'consumer';
  id: number;
  url: string;
  /** one channel per queue, all on one connection */
  queues: string[];
  noAck: boolean;
  /** basic.qos prefetch per consumer; 0 = unlimited */
  prefetch: number;
  /** record end-to-end latency from the body timestamps */
  latency: boolean;
}

export type WorkerSpec = ProducerSpec | ConsumerSpec;

export type ToWorker =
  | { type: 'init'; spec: WorkerSpec }
  | { type: 'start' }
  | { type: 'poll' }
  /** consumers: reply with counts now and stop recording latency */
  | { type: 'mark' }
  /** producers: stop publishing, wait for confirms; consumers: stop; both reply 'final' and exit */
  | { type: 'stop' };

export interface WorkerStats {
  id: number;
  role: 'producer' | 'consumer';
  /** producers: messages written */
  sent: number;
  /** producers: publishes acked (confirm mode) */
  confirmed: number;
  nacked: number;
  /** consumers: complete deliveries */
  received: number;
  returned: number;
  /** monotonic ms (nowMs) of the last delivery (consumers) or the last publish (producers) */
  lastAt: number;
  /** latency recorded since the previous report (end-to-end for consumers, confirm for producers) */
  hist: HistogramSnapshot | null;
  /** producer finished its count */
  done: boolean;
  /** producer: monotonic ms when the last confirm of its count arrived (or its last write) */
  doneAt: number;
}

export type FromWorker =
  | { type: 'ready'; id: number; connectMs: number; connections: number }
  | ({ type: 'stats' } & WorkerStats)
  | ({ type: 'mark' } & WorkerStats)
  | ({ type: 'final' } & WorkerStats)
  | ({ type: 'done' } & WorkerStats)
  | { type: 'error'; id: number; message: string };
