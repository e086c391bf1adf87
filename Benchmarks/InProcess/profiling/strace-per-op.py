# Sums `strace -f -T` output between afs-profile's "measure: begin" and "measure: end" lines.
# usage: python3 strace-per-op.py TRACE OPS   (calls per op, µs per op and µs per call of the top syscalls)
import re, sys, collections
path = sys.argv[1]; ops = int(sys.argv[2])
on = False; tot = collections.defaultdict(float); cnt = collections.Counter()
pat = re.compile(r'^(?:\[pid\s+\d+\]\s+|\d+\s+)?(?:\d+:\d+:\d+\.\d+\s+)?(\w+)\(.*<([\d.]+)>\s*$')
for line in open(path, errors='replace'):
    if 'measure: begin' in line: on = True; continue
    if 'measure: end' in line: on = False; continue
    if not on: continue
    m = pat.match(line.strip())
    if m: tot[m.group(1)] += float(m.group(2)); cnt[m.group(1)] += 1
print(f"{'syscall':<16}{'calls/op':>10}{'µs/op':>10}{'µs/call':>10}")
for k in sorted(tot, key=lambda k: -tot[k])[:12]:
    print(f"{k:<16}{cnt[k]/ops:>10.2f}{tot[k]/ops*1e6:>10.1f}{tot[k]/cnt[k]*1e6:>10.1f}")
