// The Prometheus text exposition format 0.0.4: families with HELP and TYPE lines, samples with
// escaped labels. Samples are appended to one string array joined once per scrape.
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'gauge' | 'counter' | 'histogram' | 'untyped';

export class Writer {
  private lines: string[] = [];
  private size = 0;

  // With a sink, the text goes out in pieces at checkpoints (a large scrape is streamed, and the
  // event loop runs other work between the pieces); without one, text() returns all of it.
  constructor(private readonly sink: ((chunk: string) => Promise<void>) | null = null) {}

  family(name: string, type: MetricType, help: string): void {
    this.lines.push(`# TYPE ${name} ${type}`, `# HELP ${name} ${help}`);
  }

  // `labels` is pre-rendered ("{a=\"b\"}" or "").
  sample(name: string, labels: string, value: number): void {
    this.lines.push(`${name}${labels} ${formatValue(value)}`);
  }

  // Lines already in the exposition format (no trailing newline).
  raw(lines: string): void {
    this.lines.push(lines);
    this.size += lines.length;
  }

  async checkpoint(): Promise<void> {
    if (this.sink === null || this.size < 64 * 1024) return;
    const chunk = this.lines.join('\n') + '\n';
    this.lines = [];
    this.size = 0;
    await this.sink(chunk);
  }

  async finish(): Promise<string> {
    const rest = this.text();
    if (this.sink === null) return rest;
    this.lines = [];
    await this.sink(rest);
    return '';
  }

  one(name: string, type: MetricType, help: string, value: number, labels = ''): void {
    this.family(name, type, help);
    this.sample(name, labels, value);
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

export function labels(pairs: Record<string, string>): string {
  const keys = Object.keys(pairs);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(pairs[k])}"`).join(',')}}`;
}

export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
