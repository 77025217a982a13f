// Broker memory from /proc: VmRSS of a pid, and the pid listening on a local TCP port.
import * as fs from 'node:fs';

/** VmRSS of pid in KiB, or null when it cannot be read. */
export function readRssKiB(pid: number): number | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(s);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * The pid of the process listening on TCP `port` (IPv4 or IPv6), found through the socket inode
 * in /proc/net/tcp{,6} and the fd links under /proc/<pid>/fd. Null when not found (another
 * user's process, or not Linux).
 */
export function findListeningPid(port: number): number | null {
  const inodes = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const local = cols[1];
      const state = cols[3];
      if (state !== '0A') continue; // LISTEN
      const p = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
      if (p === port) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return null;
  let pids: string[];
  try { pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)); } catch { return null; }
  for (const pid of pids) {
    let fds: string[];
    try { fds = fs.readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      let link: string;
      try { link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1])) return Number(pid);
    }
  }
  return null;
}
