// A minimal etcd v3 client over etcd's JSON gateway (POST /v3/kv/range, /v3/kv/txn,
// /v3/lease/grant, /v3/lease/keepalive, ...): keys and values travel base64, numbers as strings.
// Only what leader election and membership need. Requests go through node:http with kept-alive
// connections: a node makes several a second for as long as it runs, and Node's fetch (web
// streams, an AbortSignal per request) cost a follower more CPU than applying its replication
// stream's file operations.
import * as http from 'node:http';
import * as https from 'node:https';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));

export interface Kv { key: string; value: string; createRevision: number; modRevision: number; lease: string }

export interface Compare {
  key: string;
  target: 'CREATE' | 'MOD' | 'VALUE' | 'LEASE';
  result?: 'EQUAL' | 'NOT_EQUAL' | 'GREATER' | 'LESS';
  createRevision?: number;
  modRevision?: number;
  value?: string;
}

export type Op = { put: { key: string; value: string; lease?: string } } | { del: { key: string } };

interface RawKv { key: string; value?: string; create_revision?: string; mod_revision?: string; lease?: string }

export class EtcdError extends Error {}

export class Etcd {
  private readonly urls: string[];
  private current = 0;
  private readonly agents = { http: new http.Agent({ keepAlive: true, maxSockets: 8 }), https: new https.Agent({ keepAlive: true, maxSockets: 8 }) };

  /** `endpoints`: comma-separated URLs (http://127.0.0.1:2379,...) */
  constructor(endpoints: string, private readonly timeoutMs = 1500) {
    this.urls = endpoints.split(',').map((u) => u.trim().replace(/\/+$/, '')).filter((u) => u !== '');
    if (this.urls.length === 0) throw new EtcdError('no etcd endpoint');
  }

  private async call(route: string, body: object): Promise<Record<string, unknown>> {
    let last: unknown = null;
    for (let i = 0; i < this.urls.length; i++) {
      const url = this.urls[(this.current + i) % this.urls.length];
      try {
        const res = await this.post(new URL(`${url}${route}`), JSON.stringify(body));
        const text = res.text;
        const j = (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>;
        if (res.status < 200 || res.status > 299) throw new EtcdError(`etcd ${route}: ${res.status} ${String(j.error ?? j.message ?? text)}`);
        this.current = (this.current + i) % this.urls.length;
        return j;
      } catch (e) {
        last = e;
        if (e instanceof EtcdError) throw e;
      }
    }
    throw new EtcdError(`etcd unreachable (${this.urls.join(', ')}): ${(last as Error)?.message ?? last}`);
  }

  private post(u: URL, body: string): Promise<{ status: number; text: string }> {
    const tls = u.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (tls ? https : http).request(u, {
        method: 'POST', agent: tls ? this.agents.https : this.agents.http,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }); });
        res.on('error', (e) => { clearTimeout(timer); reject(e); });
      });
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      timer.unref();
      req.on('error', (e) => { clearTimeout(timer); reject(e); });
      req.end(body);
    });
  }

  private static kv(r: RawKv): Kv {
    return {
      key: unb64(r.key), value: unb64(r.value), createRevision: Number(r.create_revision ?? 0),
      modRevision: Number(r.mod_revision ?? 0), lease: r.lease ?? '0',
    };
  }

  async get(key: string): Promise<Kv | null> {
    const j = await this.call('/v3/kv/range', { key: b64(key) });
    const kvs = (j.kvs as RawKv[] | undefined) ?? [];
    return kvs.length === 0 ? null : Etcd.kv(kvs[0]);
  }

  async getPrefix(prefix: string): Promise<Kv[]> {
    const end = Buffer.from(prefix);
    end[end.length - 1]++;
    const j = await this.call('/v3/kv/range', { key: b64(prefix), range_end: end.toString('base64') });
    return ((j.kvs as RawKv[] | undefined) ?? []).map(Etcd.kv);
  }

  async put(key: string, value: string, lease?: string): Promise<void> {
    await this.call('/v3/kv/put', { key: b64(key), value: b64(value), ...(lease !== undefined ? { lease } : {}) });
  }

  async del(key: string): Promise<void> {
    await this.call('/v3/kv/deleterange', { key: b64(key) });
  }

  /** All compares hold: the success ops run and true is returned; else nothing and false. */
  async txn(compare: Compare[], success: Op[], failure: Op[] = []): Promise<boolean> {
    const cmp = compare.map((c) => ({
      key: b64(c.key), target: c.target, result: c.result ?? 'EQUAL',
      ...(c.createRevision !== undefined ? { create_revision: String(c.createRevision) } : {}),
      ...(c.modRevision !== undefined ? { mod_revision: String(c.modRevision) } : {}),
      ...(c.value !== undefined ? { value: b64(c.value) } : {}),
    }));
    const ops = (list: Op[]) => list.map((o) => ('put' in o
      ? { request_put: { key: b64(o.put.key), value: b64(o.put.value), ...(o.put.lease !== undefined ? { lease: o.put.lease } : {}) } }
      : { request_delete_range: { key: b64(o.del.key) } }));
    const j = await this.call('/v3/kv/txn', { compare: cmp, success: ops(success), failure: ops(failure) });
    return j.succeeded === true;
  }

  async grant(ttlSeconds: number): Promise<string> {
    const j = await this.call('/v3/lease/grant', { TTL: String(ttlSeconds) });
    return String(j.ID);
  }

  /** The TTL left after the refresh; 0 when the lease no longer exists. */
  async keepAlive(lease: string): Promise<number> {
    const j = await this.call('/v3/lease/keepalive', { ID: lease });
    const r = (j.result ?? {}) as { TTL?: string };
    return Number(r.TTL ?? 0);
  }

  async revoke(lease: string): Promise<void> {
    await this.call('/v3/lease/revoke', { ID: lease });
  }
}
