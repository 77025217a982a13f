// Broker memory from /proc: VmRSS of a pid, and the pid listening on a local TCP port.
import * as fs from 'node:fs';

/**
 * CPU seconds (user + system) a process has used, from /proc/<pid>/stat, or null. The broker's
 * CPU per message is the bench's figure that a busy, shared machine disturbs least: other
 * processes take wall-clock time from the broker, not instructions.
 */
export function readCpuSeconds(pid: number): number | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields 14 and 15 (utime, stime) counted from 1; f[0] is field 3
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
const CLOCK_TICKS = 100;

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

/** Busy CPU jiffies and total jiffies of the whole machine, from /proc/stat (null off Linux). */
function cpuTimes(): { busy: number; total: number } | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/**
 * Waits until the machine has been mostly idle (under `maxBusy` of all cores) for one `stepMs`
 * window, or `maxMs` have passed. Returns the ms waited, or -1 when /proc/stat is unreadable.
 * In compare mode, a broker still cleaning up after its run (deleting a million-message queue,
 * collecting garbage) would otherwise load the next run of the other broker.
 */
export async function waitQuiet(maxBusy = 0.1, stepMs = 500, maxMs = 15000): Promise<number> {
  const t0 = Date.now();
  let prev = cpuTimes();
  if (prev === null) return -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, stepMs));
    const cur = cpuTimes();
    if (cur === null) return -1;
    const dt = cur.total - prev.total;
    const busy = dt > 0 ? (cur.busy - prev.busy) / dt : 0;
    prev = cur;
    if (busy < maxBusy || Date.now() - t0 >= maxMs) return Date.now() - t0;
  }
}
