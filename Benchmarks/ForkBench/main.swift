// afs-bench: AetherFS next to what people would use instead, measured in the same run on the same
// disk. Five figures, each with its headline ratio to the baseline:
//
//   fork        fork time vs tree size (100 … 100k files): cp -a, git worktree add, git clone --shared,
//               reflink copy (loop-mounted btrfs/xfs), overlayfs mount          — ForkCost.swift
//   delta       N forks of a real repository, 1 % of files rewritten in each: bytes stored,
//               against cp -a copies and git worktrees                           — DeltaCost.swift
//   throughput  ingest vs tar -x / lz4 -b1 / sha256sum, reads vs cat, durable 1 KiB writes
//               vs write+fdatasync                                               — Throughput.swift
//   scale       open time and peak memory of a store of 1 M files / 10k sessions — Scale.swift
//   http        afs-server on loopback: fork over HTTP vs in process, one client's reads/writes/deletes,
//               and a load test of C clients × D s (reads, durable writes, forks) — HTTPBench.swift
//
//   swift run -c release afs-bench --docs Docs      regenerates Docs/PERFORMANCE.md and Docs/perf/*.svg
//   afs-bench [--quick] [--only LIST] [--repo DIR]... [--server PATH] [--work DIR] [--json FILE] [--docs DIR]
//
// Everything runs in a fresh scratch directory (under --work, default /var/tmp) removed at the end.
// See Benchmarks/README.md.

import Foundation

exit(benchMain(CommandLine.arguments))
