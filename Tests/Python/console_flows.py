"""The web console's real flows in Debian's Chromium, driven by Playwright, against a real afs-server.
Run by Tests/AFSServerTests/ConsoleTests.swift, which starts the server and prepares the data:

    console_flows.py SETUP_JSON

SETUP_JSON names: base (https://127.0.0.1:PORT), admin / reviewer / outsider tokens, the base session made
from a real tree, the outsider's session, the hostile file's path, and a screenshot directory (or "").
Prints one JSON object of what it saw; any failed check exits non-zero with the reason.
"""
import json
import ssl
import sys
import time
import urllib.request

from playwright.sync_api import expect, sync_playwright

# Generous waits: CI runs this beside the rest of the suite on two cores.
expect.set_options(timeout=30_000)
setup = json.load(open(sys.argv[1]))
base = setup["base"]
shots = setup.get("screenshots") or ""
seen = {}
dialogs = []
insecure = ssl.create_default_context()
insecure.check_hostname = False
insecure.verify_mode = ssl.CERT_NONE


def call(method, path, token, body=None, raw=None):
    """The JSON API with a bearer token (the agents' side of the story)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + token)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, context=insecure) as response:
        text = response.read().decode()
        return json.loads(text) if text else None


def check(condition, message):
    if not condition:
        raise SystemExit("check failed: " + message)


def shot(page, name):
    if shots:
        page.screenshot(path=f"{shots}/{name}.png")


def sign_in(browser, token):
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.on("dialog", lambda d: dialogs.append(d.message) if d.type == "alert" else None)
    page.goto(base + "/")
    expect(page.locator("#sign-in")).to_be_visible()
    page.fill("#token", token)
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#sessions")).to_be_visible()
    return context, page


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])

    # A wrong token is refused on the sign-in page.
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.goto(base + "/")
    shot(page, "sign-in")
    page.fill("#token", "afs_not_a_token")
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#error")).to_contain_text("not accepted")
    context.close()

    # Sign in: the cookie is HttpOnly, SameSite=Strict and Secure (this server speaks TLS).
    admin, page = sign_in(browser, setup["admin"])
    cookie = next(c for c in admin.cookies() if c["name"] == "afs_console")
    check(cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict", f"cookie flags: {cookie}")
    check(setup["admin"] not in page.content(), "the token appears in the page")
    check(page.evaluate("Object.keys(localStorage).length") == 0, "something was put in localStorage")
    seen["cookie"] = {k: cookie[k] for k in ("httpOnly", "secure", "sameSite")}

    # The sessions page lists the base session; filter and search work.
    expect(page.locator(f"#sessions tr[data-id='{setup['session']}']")).to_be_visible()
    shot(page, "sessions")
    page.select_option("#status-filter", "archived")
    expect(page.locator(f"#sessions tr[data-id='{setup['session']}']")).to_have_count(0)
    page.select_option("#status-filter", "")
    expect(page.locator(f"#sessions tr[data-id='{setup['session']}']")).to_be_visible()
    expect(page.locator("#status-filter")).to_have_value("")
    page.fill("#search", "project")
    page.press("#search", "Enter")
    expect(page.locator(f"#sessions tr[data-id='{setup['session']}']")).to_be_visible()

    # Open the session made from a real tree, browse, open a file with line numbers.
    page.click(f"#sessions tr[data-id='{setup['session']}'] td a")
    expect(page.locator("#tree")).to_be_visible()
    expect(page.locator("#tree tr[data-path='/Sources']")).to_be_visible()
    shot(page, "session-files")
    page.click("#tree tr[data-path='/README.md'] a")
    expect(page.locator("#code tr[data-line='1'] td.ln")).to_have_text("1")
    expect(page.locator("#code")).to_contain_text(setup["readme_first_line"])
    shot(page, "file")

    # A hostile name and hostile content show as text and run nothing.
    page.goto(base + "/#/s/" + setup["session"] + "/files?path=/")
    hostile = setup["hostile"]
    row = page.locator("#tree tr", has_text=hostile.lstrip("/"))
    expect(row).to_have_count(1)
    row.locator("a").click()
    expect(page.locator("#code")).to_contain_text("<script>")
    time.sleep(0.5)
    check(not dialogs, f"a script ran: {dialogs}")
    check(page.locator("img[src='x']").count() == 0, "the hostile name became an element")
    seen["hostile_rendered_as_text"] = True

    # Fork from the session page.
    page.goto(base + "/#/s/" + setup["session"])
    expect(page.locator("#tree tr[data-path='/README.md']")).to_be_visible()
    page.click("#session-title ~ p button.fork")
    # Poll from Python: the console's CSP (script-src 'self') forbids the eval that
    # wait_for_function polls with, while page.evaluate works.
    deadline = time.time() + 15
    while not page.evaluate("location.hash.startsWith('#/s/') && !location.hash.includes(" + json.dumps(setup["session"]) + ")"):
        check(time.time() < deadline, "the fork did not open its page within 15 s")
        time.sleep(0.1)
    fork = page.evaluate("location.hash.split('/')[2]")
    seen["fork"] = fork

    # A write through the API appears live on the changes page.
    page.goto(base + "/#/s/" + fork + "/changes")
    expect(page.locator("#live-status")).to_contain_text("Live")
    call("PUT", f"/v1/sessions/{fork}/files/docs/added-by-agent.md", setup["admin"], raw=b"# added\nby an agent\n")
    expect(page.locator("#events")).to_contain_text("/docs/added-by-agent.md")
    seen["live_event"] = True
    shot(page, "changes")

    # Compare the fork with its base: the added file, and a modified one line by line.
    call("PUT", f"/v1/sessions/{fork}/files/README.md", setup["admin"], raw=(setup["readme_first_line"] + "\nchanged by the agent\n").encode())
    page.goto(base + "/#/s/" + fork + "/compare")
    expect(page.locator("#diff tr[data-path='/docs/added-by-agent.md']")).to_be_visible()
    expect(page.locator("#diff tr[data-path='/README.md']")).to_have_class("change-modified")
    page.click("#diff tr[data-path='/README.md'] a")
    expect(page.locator("#code tr.add")).to_contain_text("changed by the agent")
    shot(page, "compare")
    page.click("text=Side by side")
    expect(page.locator("#code table.split-view")).to_be_visible()

    # Annotate a line by clicking its number.
    page.click("text=Unified")
    page.once("dialog", lambda d: d.accept("Why was this changed?"))
    page.locator("#code tr.add td.ln").nth(1).click()
    expect(page.locator("#code .annotation")).to_contain_text("Why was this changed?")
    seen["annotated"] = True

    # Promote waits for the ref's policy: disabled, with the reason, before and after review is requested.
    page.goto(base + "/#/s/" + fork + "/review")
    expect(page.locator("#promote")).to_be_disabled()
    expect(page.locator("#promote-reason")).to_contain_text("main requires 1 approval; this session has 0")
    page.fill("#reviewers", "reviewer")
    page.fill("#required-approvals", "1")
    page.click("#request-review")
    expect(page.locator("#review-state")).to_contain_text("pending-approval")
    expect(page.locator("#promote")).to_be_disabled()
    seen["promote_refused"] = page.locator("#promote-reason").inner_text()
    # A ref without a policy takes it at once (the button follows the ref typed).
    page.fill("#ref", "scratch")
    expect(page.locator("#promote")).to_be_enabled()
    page.fill("#ref", "main")
    expect(page.locator("#promote")).to_be_disabled()
    # The server refuses too, whatever a page shows: a promote sent anyway is refused by the policy.
    call("POST", f"/v1/sessions/{fork}/commits", setup["admin"], body={"message": "sent anyway"})
    refused = admin.request.post(base + f"/v1/sessions/{fork}/promote", data=json.dumps({"ref": "main"}),
                                 headers={"Content-Type": "application/json", "X-CSRF-Token": page.evaluate("document.getElementById('csrf-field').value")})
    check(refused.status == 403 and "approval" in refused.text(), f"promote sent anyway: {refused.status} {refused.text()}")
    shot(page, "review")

    # Another user approves.
    reviewer, review_page = sign_in(browser, setup["reviewer"])
    review_page.goto(base + "/#/s/" + fork + "/review")
    review_page.fill("#comment", "Looks right")
    review_page.click("#approve")
    expect(review_page.locator("#decisions")).to_contain_text("approved: Looks right")
    reviewer.close()

    # Now promote is enabled (the page read again), succeeds, and the ref moves.
    page.reload()
    expect(page.locator("#decisions")).to_contain_text("approved")
    expect(page.locator("#promote")).to_be_enabled()
    page.click("#promote")
    expect(page.locator("#promoted")).to_be_visible()
    refs = call("GET", "/v1/refs", setup["admin"])
    seen["refs"] = refs

    # The fork's commits, newest first: the console's promote commit on top of the one sent anyway.
    page.goto(base + "/#/s/" + fork + "/checkpoints")
    expect(page.locator("#commits tbody tr").first).to_contain_text("Promoted from the console")
    expect(page.locator("#commits")).to_contain_text("sent anyway")
    seen["commits"] = page.locator("#commits tbody tr").count()

    # A second, approved proposal that changed the same lines: promote lists the conflicting file.
    second = call("POST", f"/v1/sessions/{setup['session']}/fork", setup["admin"], body={})["id"]
    call("PUT", f"/v1/sessions/{second}/files/README.md", setup["admin"], raw=(setup["readme_first_line"] + "\nchanged differently\n").encode())
    call("POST", f"/v1/sessions/{second}/review", setup["admin"], body={"reviewers": [], "required_approvals": 1})
    call("POST", f"/v1/sessions/{second}/review/approve", setup["reviewer"], body={"comment": "fine by me"})
    page.goto(base + "/#/s/" + second + "/review")
    expect(page.locator("#session-title + p")).to_contain_text(second)
    expect(page.locator("#promote")).to_be_enabled()
    page.click("#promote")
    expect(page.locator("#promote-refused")).to_contain_text("conflicts")
    expect(page.locator("#conflicts")).to_contain_text("/README.md")
    seen["conflicts"] = page.locator("#conflicts").inner_text()

    # Line changes against a ref: the second proposal's README against main (the first one's).
    page.goto(base + "/#/s/" + second + "/compare?against=main&file=" + "/README.md")
    expect(page.locator("#code tr.del")).to_contain_text("changed by the agent")
    expect(page.locator("#code tr.add")).to_contain_text("changed differently")
    seen["diff_against_ref"] = True

    # A request signed in by the cookie but without the CSRF token is refused.
    forged = admin.request.post(base + f"/v1/sessions/{fork}/fork", data="{}", headers={"Content-Type": "application/json"})
    check(forged.status == 403 and forged.json()["error"]["code"] == "csrf", f"forged post: {forged.status} {forged.text()}")
    form = admin.request.post(base + f"/v1/sessions/{fork}/archive", form={"x": "1"})
    check(form.status == 403, f"form post without the token: {form.status}")
    seen["csrf_refused"] = True

    # Bus messages, leases and knowledge of the session, as agents left them (payloads as text).
    call("POST", f"/v1/sessions/{fork}/bus/plans", setup["admin"], body={"step": "<b>1</b>"})
    call("POST", f"/v1/sessions/{fork}/locks", setup["admin"], body={"path": "/src", "ttl": 600, "holder": "agent-7"})
    page.goto(base + "/#/s/" + fork + "/coordination")
    expect(page.locator("#messages")).to_contain_text('<b>1</b>')
    expect(page.locator("#leases")).to_contain_text("agent-7")
    check(page.locator("#messages b").count() == 0, "a bus payload became markup")
    shot(page, "coordination")

    # Another tenant cannot reach this session by its URL, nor see it listed.
    outsider, outside_page = sign_in(browser, setup["outsider"])
    expect(outside_page.locator(f"#sessions tr[data-id='{setup['session']}']")).to_have_count(0)
    expect(outside_page.locator(f"#sessions tr[data-id='{setup['outsider_session']}']")).to_be_visible()
    outside_page.goto(base + "/#/s/" + setup["session"])
    expect(outside_page.locator("#page-error")).to_be_visible()
    seen["outsider_error"] = outside_page.locator("#page-error").inner_text()
    outsider.close()

    # Overlapping navigations: a slow page whose answer arrives after the user moved on paints
    # nothing over the newer page. The diff is held back 1.5 s in the page's fetch.
    page.goto(base + "/#/sessions")
    expect(page.locator("#sessions")).to_be_visible()
    page.evaluate("""() => {
        const original = window.fetch;
        window.fetch = (url, options) => String(url).includes('/diff?')
            ? new Promise((resolve) => setTimeout(resolve, 1500)).then(() => original(url, options))
            : original(url, options);
    }""")
    page.evaluate("location.hash = " + json.dumps("#/s/" + fork + "/compare"))
    time.sleep(0.3)
    page.evaluate("location.hash = '#/usage'")
    expect(page.locator("#session-usage")).to_be_visible()
    time.sleep(2.0)
    check(page.locator("#diff").count() == 0 and page.locator("#session-usage").count() == 1,
          "the slow compare page replaced the newer usage page")
    seen["stale_page_dropped"] = True
    page.reload()

    # Usage: per tenant and per session, with charts drawn by the page.
    page.goto(base + "/#/usage")
    expect(page.locator("#tenant-usage")).to_contain_text("admin")
    expect(page.locator(f"#session-usage")).to_contain_text(fork)
    # A fork costs what it changed: its physical bytes are shown, and a fresh fork's are 0 B.
    fresh = call("POST", f"/v1/sessions/{setup['session']}/fork", setup["admin"], body={})["id"]
    page.goto(base + "/#/sessions")
    page.goto(base + "/#/usage")
    expect(page.locator("#session-usage tr", has_text=fresh).locator("td.physical")).to_have_text("0 B")
    seen["fresh_fork_physical"] = page.locator("#session-usage tr", has_text=fresh).locator("td.physical").inner_text()
    check(page.locator("#requests-chart rect").count() >= 1, "no bars in the requests chart")
    shot(page, "usage")

    # Sign out: the cookie no longer opens the API.
    page.click("#sign-out button")
    expect(page.locator("#sign-in")).to_be_visible()
    after = admin.request.get(base + "/v1/sessions")
    check(after.status == 401, f"after sign-out: {after.status}")
    admin.close()
    browser.close()

print(json.dumps(seen))
