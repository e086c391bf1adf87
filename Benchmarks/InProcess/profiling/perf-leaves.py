# Reads `perf script -F sym,dso,ip` output (stacks separated by blank lines). For the samples whose stack
# contains FRAME_REGEX, prints the top leaf functions and the inclusive share of each NAME=REGEX group.
# usage: perf script ... | swift demangle --simplified | python3 perf-leaves.py FRAME_REGEX [NAME=REGEX ...]
import re, sys, collections
frame_re = re.compile(sys.argv[1]); groups = [(g.split('=')[0], re.compile(g.split('=')[1])) for g in sys.argv[2:]]
samples, stack = [], []
for line in sys.stdin:
    line = line.rstrip('\n')
    if not line.strip():
        if stack: samples.append(stack)
        stack = []; continue
    if line.startswith((' ', '\t')):
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            sym = re.sub(r'\+0x[0-9a-f]+', '', parts[1].split(' (')[0]); dso = parts[1].rsplit('(', 1)[-1].rstrip(')')
            stack.append((sym, dso))
if stack: samples.append(stack)
kept = [s for s in samples if any(frame_re.search(f[0]) for f in s)]
print(f"{len(kept)} of {len(samples)} samples inside /{sys.argv[1]}/")
leaf = collections.Counter(f"{s[0][0]}  [{s[0][1].split('/')[-1]}]" for s in kept)
for k, v in leaf.most_common(14): print(f"{100*v/len(kept):6.1f}%  {k}")
print("-- leaf samples by library --")
for d, v in collections.Counter(s[0][1].split('/')[-1] for s in kept).most_common(8): print(f"{100*v/len(kept):6.1f}%  {d}")
print("-- inclusive groups --")
for name, rx in groups:
    v = sum(1 for s in kept if any(rx.search(f[0]) for f in s))
    print(f"{100*v/len(kept):6.1f}%  {name}")
