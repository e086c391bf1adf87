"""The console's workspaces page in Debian's Chromium (Playwright), against afs-server linked to a real
afs-vmd (bubblewrap driver). Run by Tests/AFSServerTests/ConsoleTests.swift:

    console_workspaces.py SETUP_JSON

SETUP_JSON names: base, admin and outsider tokens, the project session, a screenshot directory (or "").
Prints one JSON object of what it saw; a failed check exits non-zero with the reason.
"""
import json
import os
import signal
import sys
import urllib.error
import urllib.request

from playwright.sync_api import expect, sync_playwright

expect.set_options(timeout=60_000)
setup = json.load(open(sys.argv[1]))
base = setup["base"]
seen = {}


def kill_sandbox(workspace):
    """SIGKILLs the processes bubblewrap started for a workspace (the children of the bwrap
    launcher run with `--hostname aether-ws-ID`); returns how many it killed."""
    marker = ("aether-ws-" + workspace).encode()
    launchers = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"bwrap") and marker in argv:
            launchers.add(pid)
    killed = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                ppid = next(line.split()[1] for line in f if line.startswith("PPid:"))
        except (OSError, StopIteration):
            continue
        if ppid in launchers:
            # A short-lived child may have exited since the listing: not one that was killed.
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed += 1
    return killed


def check(condition, message):
    if not condition:
        raise SystemExit("check failed: " + message)


def status_of(method, path, token):
    request = urllib.request.Request(base + path, data=b"{}" if method == "POST" else None, method=method)
    request.add_header("Authorization", "Bearer " + token)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(base + "/")
    page.fill("#token", setup["admin"])
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#sessions")).to_be_visible()

    # Create a workspace for the project session with a preset.
    page.goto(base + "/#/workspaces")
    expect(page.locator("#ws-create")).to_be_visible()
    page.select_option("#ws-project", setup["session"])
    page.select_option("#ws-preset", "small")
    page.click("#create-workspace")
    row = page.locator("#workspaces tbody tr").first
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "stopped")
    workspace = row.get_attribute("data-id")
    seen["workspace"] = workspace
    expect(row).to_contain_text("1 CPU (shared) · 1024 MB · 5 GB")

    # Every state the indicator shows is recorded as it changes.
    page.evaluate("""() => {
        window.statesSeen = [];
        const record = () => document.querySelectorAll('#workspaces [data-status]').forEach((el) => {
            const s = el.getAttribute('data-status');
            if (window.statesSeen[window.statesSeen.length - 1] !== s) window.statesSeen.push(s);
        });
        record();
        new MutationObserver(record).observe(document.getElementById('workspaces'), { subtree: true, childList: true, attributes: true });
    }""")

    # Start: the indicator moves from starting to running by itself, without a reload.
    row = page.locator(f"#workspaces tr[data-id='{workspace}']")
    row.locator("button.start").click()
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "running")
    states = page.evaluate("window.statesSeen")
    seen["states"] = states
    check("starting" in states and states.index("starting") < states.index("running"), f"states seen: {states}")
    if setup.get("screenshots"):
        page.screenshot(path=setup["screenshots"] + "/workspaces.png")

    # Its events.
    row.locator("button.show-events").click()
    expect(page.locator("#workspace-events")).to_contain_text("→ running")

    # Another tenant neither sees nor drives it.
    code, listed = status_of("GET", "/v1/workspaces", setup["outsider"])
    check(code == 200 and all(w["id"] != workspace for w in listed), f"outsider listed: {code} {listed}")
    code, _ = status_of("POST", f"/v1/workspaces/{workspace}/stop", setup["outsider"])
    check(code == 404, f"outsider stop: {code}")
    code, _ = status_of("POST", "/v1/workspaces", setup["outsider"])
    check(code in (400, 422), f"outsider create without a project: {code}")

    # Stop from the page.
    row.locator("button.stop").click()
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "stopped")

    # A workspace that dies under its user: start it again, kill its sandbox from outside, and the
    # indicator turns to error with the reason, by itself.
    row.locator("button.start").click()
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "running")
    killed = kill_sandbox(workspace)
    check(killed, f"no sandbox process found for {workspace}")
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "error")
    expect(row.locator(".reason")).to_contain_text("exited unexpectedly")
    seen["error_reason"] = row.locator(".reason").inner_text()
    # stop_failed (a VM that survives its whole stop ladder) cannot be provoked with a real
    # sandbox: SIGKILL always ends one. The page draws it through the same indicator, given the
    # workspace as the API returns it (state and reason), so that drawing is checked here.
    drawn = page.evaluate("""() => {
        const w = { id: 'ws_x', status: 'stop_failed', error: 'the VM ignored SIGTERM and SIGKILL for 30 s' };
        const el = indicator(w);
        return { status: el.getAttribute('data-status'), text: el.textContent, cls: el.className };
    }""")
    check(drawn["status"] == "stop_failed" and "stop_failed" in drawn["text"] and "ignored SIGTERM" in drawn["text"] and "stop_failed" in drawn["cls"],
          f"stop_failed drawn as {drawn}")
    seen["stop_failed_drawn"] = drawn["text"]
    page.once("dialog", lambda d: d.accept())
    row.locator("button.delete").click()
    expect(page.locator(f"#workspaces tr[data-id='{workspace}']")).to_have_count(0)
    browser.close()

print(json.dumps(seen))
