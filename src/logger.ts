// Operator-facing log lines: timestamp, level, text. One shared sink so the CLI can set the level
// once and tests can silence the broker by passing --log-level warning.
export type LogLevel = 'debug' | 'info' | 'warning' | 'error' | 'none';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warning: 30, error: 40, none: 100 };

let threshold = RANK.info;
let sink: (line: string) => void = (line) => process.stderr.write(line + '\n');

export function setLogLevel(level: LogLevel): void {
  if (!(level in RANK)) throw new Error(`unknown log level ${level}`);
  threshold = RANK[level];
}
export function setLogSink(fn: (line: string) => void): void { sink = fn; }
export function isLogLevelEnabled(level: LogLevel): boolean { return RANK[level] >= threshold; }

function emit(level: LogLevel, msg: string): void {
  if (RANK[level] < threshold) return;
  sink(`${new Date().toISOString()} [${level}] ${msg}`);
}

export const log = {
  debug: (msg: string) => emit('debug', msg),
  info: (msg: string) => emit('info', msg),
  warn: (msg: string) => emit('warning', msg),
  error: (msg: string) => emit('error', msg),
};
