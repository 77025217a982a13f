// V8 flags (and glibc settings) the broker runs with. They are fixed when the process starts, so they are written out
// three times: here (for `warren bench --start-broker`), in the shebang of src/cli/main.ts (the
// `warren` command) and in package.json's start script; test/tools/node-flags.test.ts keeps them equal.
//
// --initial-old-space-size: V8 sizes the old generation's first limits from its live size (about
// 10 MiB for an idle broker) and starts incremental marking when the room left under that limit
// is smaller than the young generation (16 MiB). A broker moving 10 MB/s then ran a full
// mark-compact every 400-700 ms, each stopping the loop for 5-15 ms: that was most of the p99
// latency of benchmark S5. Starting the limit at 64 MiB leaves room for the young generation, so
// V8 collects with scavenges (under 1 ms) and marks only when old data really grows.
//
// --max-semi-space-size=4 (MiB): after a heavy run V8 had grown the young generation to 16 MiB;
// its scavenges then ran every 0.5-1 s, kept 10+ MiB of message objects alive each time and
// promoted them, and the old generation needed a mark-compact every 1.5 s: 6-10 ms pauses, p99
// 3.95 ms at 20,000 msg/s (benchmark S3, S4 then S5 on one broker). With 4 MiB, scavenges run
// every ~190 ms in 0.3-0.5 ms, nothing is promoted, and p99 stayed at 0.37 ms; S1/S2/S7
// throughput did not change beyond the noise (two alternating rounds).
export const BROKER_NODE_FLAGS = ['--initial-old-space-size=64', '--max-semi-space-size=4'];

// glibc malloc settings, for the same three places (and the test helper). Under connection and
// queue churn (the frame fuzzer: ~100 connections and queues a second, each with 256-320 KiB
// buffers) glibc kept memory it no longer needed: RSS rose 60-80 MB in 2-3 minutes and kept
// creeping, with the JS heap (12 MB) and external memory (~45 MB) flat. Two arenas instead of
// eight per core, and a fixed 256 KiB threshold above which blocks are mmapped and given back
// (glibc raises it dynamically after the first such free), kept the rise at ~+31 MB, flat.
export const BROKER_ENV: Record<string, string> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '262144' };
export const BROKER_ENV_WORDS = Object.entries(BROKER_ENV).map(([k, v]) => `${k}=${v}`).join(' ');
