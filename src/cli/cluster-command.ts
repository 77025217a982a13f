// `warren cluster status|step-down`: read from (and write a request to) etcd, where the leader
// publishes its status every second; no connection to a broker is needed.
import type { Command } from 'commander';
import { Etcd } from '../cluster/etcd';
import { type ClusterStatus, type NodeRecord, keys } from '../cluster/node';

interface Flags { etcd?: string; clusterName?: string; json?: boolean; timeout?: string }

function connect(f: Flags): { etcd: Etcd; k: ReturnType<typeof keys> } {
  const urls = f.etcd ?? process.env.WARREN_ETCD ?? 'http://127.0.0.1:2379';
  return { etcd: new Etcd(urls), k: keys(f.clusterName ?? process.env.WARREN_CLUSTER_NAME ?? 'warren') };
}

function fail(msg: string): never {
  process.stderr.write(`warren: ${msg}\n`);
  process.exit(1);
}

export async function clusterStatus(f: Flags): Promise<Record<string, unknown>> {
  const { etcd, k } = connect(f);
  const [leader, isr, status, members] = await Promise.all([etcd.get(k.leader), etcd.get(k.isr), etcd.get(k.status), etcd.getPrefix(k.members)]);
  const st = status === null ? null : (JSON.parse(status.value) as ClusterStatus);
  return {
    leader: leader === null ? null : (JSON.parse(leader.value) as NodeRecord).id,
    isr: isr === null ? [] : (JSON.parse(isr.value) as { members: string[] }).members,
    members: members.map((m) => JSON.parse(m.value) as NodeRecord & { role: string }),
    position: st?.position ?? null,
    statusAgeSeconds: st === null ? null : (Date.now() - st.at) / 1000,
    followers: st?.followers ?? [],
  };
}

export function registerCluster(program: Command): void {
  const c = program.command('cluster').description('a replicated cluster: status, step-down (docs/clustering.md)');
  const common = (cmd: Command) => cmd
    .option('--etcd <urls>', 'etcd endpoints (default: WARREN_ETCD or http://127.0.0.1:2379)')
    .option('--cluster-name <name>', 'etcd key prefix (default: warren)');
  common(c.command('status').description('leader, in-sync replicas, lag per follower').option('--json', 'JSON output'))
    .action(async (f: Flags) => {
      const s = await clusterStatus(f).catch((e: Error) => fail(e.message));
      if (f.json) { process.stdout.write(JSON.stringify(s, null, 2) + '\n'); return; }
      const lines = [`leader: ${s.leader ?? '(none)'}`, `isr: ${(s.isr as string[]).join(', ') || '(none)'}`];
      for (const m of s.members as Array<{ id: string; role: string }>) lines.push(`member: ${m.id} (${m.id === s.leader ? 'leader' : 'follower'})`);
      for (const fl of s.followers as ClusterStatus['followers']) {
        lines.push(`follower ${fl.id}: ${fl.state}${fl.inIsr ? ', in sync' : ', not in sync'}, lag ${fl.lagBytes} bytes, ${fl.lagSeconds} s`);
      }
      process.stdout.write(lines.join('\n') + '\n');
    });
  common(c.command('step-down').description('ask the leader to hand over (for a rolling upgrade): it stops serving, waits for its ISR, exits')
    .option('--timeout <s>', 'wait at most this long for another leader', '30'))
    .action(async (f: Flags) => {
      const { etcd, k } = connect(f);
      const leader = await etcd.get(k.leader).catch((e: Error) => fail(e.message));
      if (leader === null) fail('no leader');
      const id = (JSON.parse(leader.value) as NodeRecord).id;
      await etcd.put(k.stepDown, id);
      const until = Date.now() + Number(f.timeout ?? 30) * 1000;
      while (Date.now() < until) {
        await new Promise((r) => setTimeout(r, 250));
        const now = await etcd.get(k.leader).catch(() => null);
        if (now !== null && (JSON.parse(now.value) as NodeRecord).id !== id) {
          process.stdout.write(`leader ${id} stepped down; new leader: ${(JSON.parse(now.value) as NodeRecord).id}\n`);
          return;
        }
      }
      fail(`no new leader within ${f.timeout ?? 30} s`);
    });
}
