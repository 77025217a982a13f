// Management API calls for tests: JSON in and out, HTTP Basic as the given user.
import type { RunningBroker } from './broker';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies of every shape
export interface Reply { status: number; headers: Headers; body: any; text: string }

export function basic(user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
}

export const GUEST = basic('guest', 'guest');

export async function api(b: RunningBroker | string, method: string, path: string, body?: unknown,
  opts: { auth?: string | null; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  const auth = opts.auth === undefined ? GUEST : opts.auth;
  if (auth !== null) headers.authorization = auth;
  if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  const base = typeof b === 'string' ? b : `http://127.0.0.1:${b.httpPort}`;
  const res = await fetch(`${base}${path}`, {
    method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  if ((res.headers.get('content-type') ?? '').startsWith('application/json')) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed, text };
}

export const enc = encodeURIComponent;
