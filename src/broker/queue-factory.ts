// Which class a queue is: x-queue-type picks it (classic by default).
import { ClassicQueue } from './classic-queue';
import type { Queue, QueueOptions } from './queue';
import { StreamQueue } from './stream-queue';

export function createQueue(opts: QueueOptions): Queue {
  return opts.args.queueType === 'stream' ? new StreamQueue(opts) : new ClassicQueue(opts);
}
