"""ConsoleBench's measuring half (run by run.sh): makes the data through the API, then times the pages."""
import json
import os
import statistics
import sys
import time
import urllib.request

from playwright.sync_api import expect, sync_playwright

base, token, files, changes, runs, work, bin_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7]


def call(method, path, body=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + token)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request) as response:
        text = response.read().decode()
        return json.loads(text) if text else None


# A session with one directory of `files` files, made on the server's disk (a store admin may).
tree = os.path.join(work, "tree")
os.makedirs(os.path.join(tree, "big"))
for i in range(files):
    with open(os.path.join(tree, "big", f"file-{i:05d}.txt"), "w") as f:
        f.write(f"line one of {i}\nline two\n")
session = call("POST", "/v1/sessions", {"name": "bench", "source": {"kind": "directory", "path": tree}})["id"]
fork = call("POST", f"/v1/sessions/{session}/fork", {})["id"]
for start in range(0, changes, 500):
    batch = [{"op": "write", "path": f"/big/file-{i:05d}.txt", "data": "Y2hhbmdlZAo="} for i in range(start, min(changes, start + 500))]
    call("POST", f"/v1/sessions/{fork}/batch", {"changes": batch})


def median_ms(samples):
    return statistics.median(samples) * 1000, max(samples) * 1000


results = []
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(base + "/")
    page.fill("#token", token)
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#sessions")).to_be_visible()
    cases = [
        (f"directory of {files} files", f"#/s/{session}/files?path=/big", "#tree tbody tr", files,
         f"/v1/sessions/{session}/tree?path=/big"),
        (f"compare, {changes} changed files", f"#/s/{fork}/compare?against={session}", "#diff tbody tr", changes,
         f"/v1/sessions/{fork}/diff?against={session}"),
    ]
    for name, hash_, rows, count, api_path in cases:
        page_times, api_times = [], []
        for _ in range(runs):
            # A full load: the document, its script, who is signed in, then the page's API calls.
            page.goto("about:blank")
            started = time.perf_counter()
            page.goto(base + "/" + hash_)
            page.locator(rows).nth(count - 1).wait_for(state="attached", timeout=60_000)
            page_times.append(time.perf_counter() - started)
            api_times.append(page.evaluate("""async (path) => {
                const t = performance.now();
                const r = await fetch(path, { credentials: 'same-origin' });
                await r.json();
                return (performance.now() - t) / 1000;
            }""", api_path))
        results.append((name, *median_ms(page_times), *median_ms(api_times)))
    browser.close()

chromium = os.popen('/usr/bin/chromium --version 2>/dev/null').read().strip()
print("# Web console: page loads\n")
print(f"`Benchmarks/ConsoleBench/run.sh --runs {runs}`: afs-server from `{os.path.relpath(bin_dir)}` on loopback, {chromium} through Playwright. "
      f"Each page is loaded fully {runs} times (from about:blank: the document, its script, the sign-in check, the page's API calls) "
      "until every row is on the page; the baseline is the one API call that carries the rows, fetched by the same browser. "
      "Target (issue 17): under 1 s on loopback.\n")
print("| page | page load p50 | max | its API call p50 | max | page / API |")
print("|---|---|---|---|---|---|")
for name, page_p50, page_max, api_p50, api_max in results:
    print(f"| {name} | {page_p50:.0f} ms | {page_max:.0f} ms | {api_p50:.0f} ms | {api_max:.0f} ms | {page_p50 / api_p50:.1f}x |")
