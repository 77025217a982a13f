// Is the event loop saturated? Warren runs on one thread, so when it is busy all the time,
// every message a publisher adds to a growing backlog takes CPU from delivering the backlog.
// Queues use this signal for publisher flow control (see Queue.shouldThrottle); a queue whose
// consumers are merely slow on a idle broker never throttles its publishers.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

const SATURATED = 0.85;

let last: EventLoopUtilization | null = null;
let saturated = false;
let timer: NodeJS.Timeout | null = null;

export function startLoadMonitor(intervalMs = 100): void {
  if (timer) return;
  last = performance.eventLoopUtilization();
  timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    saturated = performance.eventLoopUtilization(now, last!).utilization > SATURATED;
    last = now;
  }, intervalMs);
  timer.unref();
}

export function stopLoadMonitor(): void {
  if (timer) clearInterval(timer);
  timer = null;
  saturated = false;
}

export function loopSaturated(): boolean {
  return saturated;
}
