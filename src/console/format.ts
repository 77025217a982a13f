// Numbers, sizes, rates and times as the console shows them.
export function num(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return n === undefined || n === null ? '' : String(n);
  return n.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

export function rate(n: unknown): string {
  return typeof n === 'number' ? `${num(n)}/s` : '';
}

export function bytes(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n, i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function duration(ms: unknown): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function time(ms: unknown): string {
  if (typeof ms !== 'number') return '';
  return new Date(ms).toLocaleString();
}

export function json(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object' && Object.keys(v as object).length === 0) return '';
  return JSON.stringify(v);
}

export function bool(v: unknown): string {
  return v === true ? '●' : v === false ? '○' : '';
}

// "a.b.c" in an object.
export function dig(o: unknown, path: string): unknown {
  let v = o;
  for (const k of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}
