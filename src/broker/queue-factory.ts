// Which class a queue is: x-queue-type picks it (classic by default).
import { ClassicQueue } from './classic-queue';
import type { Queue, QueueOptions } from './queue';

export function createQueue(opts: QueueOptions): Queue {
  return new ClassicQueue(opts);
}
