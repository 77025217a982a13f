/** Monotonic milliseconds (CLOCK_MONOTONIC: the same clock in every process of this machine). */
export function nowMs(): number {
  const t = process.hrtime();
  return t[0] * 1e3 + t[1] / 1e6;
}

