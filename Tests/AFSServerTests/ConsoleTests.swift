import AFSTestSupport
import Foundation
import Testing

/// The web console: sign-in cookie and CSRF rules over HTTP, and its real flows in Debian's
/// Chromium driven by Playwright (Tests/Python/console_flows.py) against afs-server over TLS.
@Suite(.offCooperativePool) struct ConsoleTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static func setCookie(_ reply: ServerHarness.Reply) -> String? {
        reply.headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") }.map { String($0.dropFirst(11)).trimmingCharacters(in: .whitespaces) }
    }

    static func cookieValue(_ setCookie: String) -> String {
        String(setCookie.split(separator: ";")[0])
    }

    @Test func signInCookieAndCSRFRules() throws {
        let server = try ServerHarness()
        defer { server.cleanup() }
        // Signed out, / is the sign-in page, with a policy that runs only the console's script.
        let page = try server.request("GET", "/", token: "")
        #expect(page.status == 200 && page.text.contains("id=\"sign-in\""))
        #expect(page.headers.contains("Content-Security-Policy: default-src 'self'; script-src 'self'"))
        #expect(try server.request("GET", "/console/assets/app.js", token: "").text.contains("textContent"))
        // A wrong token goes back to the form with an error; a cross-site post is refused.
        let wrong = try server.request("POST", "/console/sign-in", token: "", body: Data("token=afs_wrong".utf8))
        #expect(wrong.status == 303 && wrong.headers.contains("Location: /?error=1"))
        #expect(try server.request("GET", "/?error=1", token: "").text.contains("not accepted"))
        let crossSite = try server.request(
            "POST", "/console/sign-in", token: "", body: Data("token=\(server.adminToken)".utf8), headers: ["Origin": "https://evil.example"])
        #expect(crossSite.status == 403)
        // The right token: an opaque cookie, HttpOnly and SameSite=Strict, not Secure over plain HTTP.
        let signedIn = try server.request("POST", "/console/sign-in", token: "", body: Data("token=\(server.adminToken)".utf8))
        #expect(signedIn.status == 303)
        let set = try #require(Self.setCookie(signedIn))
        #expect(set.contains("HttpOnly") && set.contains("SameSite=Strict") && !set.contains("Secure"))
        #expect(!set.contains(server.adminToken))
        let cookie = Self.cookieValue(set)
        // The cookie opens the API for reads; a change needs the CSRF token as well.
        let me = try server.request("GET", "/console/me", token: "", headers: ["Cookie": cookie]).object()
        let csrf = try #require(me["csrf"] as? String)
        #expect(me["tenant"] as? String == "admin")
        #expect(try server.request("GET", "/v1/sessions", token: "", headers: ["Cookie": cookie]).status == 200)
        let forged = try server.request("POST", "/v1/sessions", token: "", json: ["source": ["kind": "blank"]], headers: ["Cookie": cookie])
        #expect(forged.status == 403 && forged.errorCode == "csrf")
        let wrongToken = try server.request(
            "POST", "/v1/sessions", token: "", json: ["source": ["kind": "blank"]], headers: ["Cookie": cookie, "X-CSRF-Token": String(csrf.reversed())])
        #expect(wrongToken.status == 403)
        #expect(try server.request("POST", "/v1/sessions", token: "", json: ["source": ["kind": "blank"]], headers: ["Cookie": cookie, "X-CSRF-Token": csrf]).status == 201)
        // Sign-out needs the token too, then the cookie opens nothing.
        #expect(try server.request("POST", "/console/sign-out", token: "", body: Data(), headers: ["Cookie": cookie]).status == 403)
        let out = try server.request("POST", "/console/sign-out", token: "", body: Data("csrf=\(csrf)".utf8), headers: ["Cookie": cookie])
        #expect(out.status == 303 && (Self.setCookie(out) ?? "").contains("Max-Age=0"))
        #expect(try server.request("GET", "/v1/sessions", token: "", headers: ["Cookie": cookie]).status == 401)
        // A reader signed in to the console reads but cannot write or approve, as in the API.
        let reader = try #require(try server.request("POST", "/v1/tokens", json: ["tenant": "admin", "role": "reader"]).object()["token"] as? String)
        let readerCookie = Self.cookieValue(try #require(Self.setCookie(try server.request("POST", "/console/sign-in", token: "", body: Data("token=\(reader)".utf8)))))
        let readerCSRF = try #require(try server.request("GET", "/console/me", token: "", headers: ["Cookie": readerCookie]).object()["csrf"] as? String)
        let someSession = try #require(try server.request("GET", "/v1/sessions", token: "", headers: ["Cookie": readerCookie]).array().first?["id"] as? String)
        let readerFork = try server.request("POST", "/v1/sessions/\(someSession)/fork", token: "", json: [:] as [String: String], headers: ["Cookie": readerCookie, "X-CSRF-Token": readerCSRF])
        #expect(readerFork.status == 403 && readerFork.errorCode == "forbidden", "\(readerFork.text)")
        let readerApprove = try server.request("POST", "/v1/sessions/\(someSession)/review/approve", token: "", json: ["comment": "x"], headers: ["Cookie": readerCookie, "X-CSRF-Token": readerCSRF])
        #expect(readerApprove.status == 403)
        // A revoked token signs the console out at once.
        let again = Self.cookieValue(try #require(Self.setCookie(try server.request("POST", "/console/sign-in", token: "", body: Data("token=\(server.adminToken)".utf8)))))
        let made = try server.request("POST", "/v1/tokens", json: ["tenant": "t1", "role": "writer"]).object()
        let secret = try #require(made["token"] as? String)
        let tokenID = try #require(made["id"] as? String)
        let theirs = Self.cookieValue(try #require(Self.setCookie(try server.request("POST", "/console/sign-in", token: "", body: Data("token=\(secret)".utf8)))))
        #expect(try server.request("GET", "/v1/sessions", token: "", headers: ["Cookie": theirs]).status == 200)
        #expect(try server.request("DELETE", "/v1/tokens/\(tokenID)").status == 204)
        #expect(try server.request("GET", "/v1/sessions", token: "", headers: ["Cookie": theirs]).status == 401)
        #expect(try server.request("GET", "/v1/sessions", token: "", headers: ["Cookie": again]).status == 200)
    }

    /// Sign-ins are kept in the access catalog: a restart keeps the console signed in, with the
    /// same CSRF token; signing out or the token's revocation still ends it.
    @Test func signInsSurviveARestart() throws {
        let first = try ServerHarness()
        let data = first.data
        defer { try? FileManager.default.removeItem(atPath: data) }
        let cookie = Self.cookieValue(
            try #require(Self.setCookie(try first.request("POST", "/console/sign-in", token: "", body: Data("token=\(first.adminToken)".utf8)))))
        let csrf = try #require(try first.request("GET", "/console/me", token: "", headers: ["Cookie": cookie]).object()["csrf"] as? String)
        first.stop()
        let server = try ServerHarness(data: data)
        defer { server.cleanup() }
        #expect(try server.request("GET", "/v1/sessions", token: "", headers: ["Cookie": cookie]).status == 200)
        #expect(try server.request("GET", "/console/me", token: "", headers: ["Cookie": cookie]).object()["csrf"] as? String == csrf)
        #expect(try server.request("POST", "/v1/sessions", token: "", json: ["source": ["kind": "blank"]], headers: ["Cookie": cookie, "X-CSRF-Token": csrf]).status == 201)
        // Not stored in clear: neither the cookie nor the token is in the access database.
        let database = try Data(contentsOf: URL(fileURLWithPath: data + "/server.sqlite"))
            + ((try? Data(contentsOf: URL(fileURLWithPath: data + "/server.sqlite-wal"))) ?? Data())
        #expect(database.range(of: Data(String(cookie.split(separator: "=")[1]).utf8)) == nil)
        #expect(database.range(of: Data(server.adminToken.utf8)) == nil)
        let out = try server.request("POST", "/console/sign-out", token: "", body: Data("csrf=\(csrf)".utf8), headers: ["Cookie": cookie])
        #expect(out.status == 303)
        #expect(try server.request("GET", "/v1/sessions", token: "", headers: ["Cookie": cookie]).status == 401)
    }

    @Test func theCookieIsSecureOverTLSAndBehindATrustedProxy() throws {
        let tls = try ServerHarness(backend: .tls)
        defer { tls.cleanup() }
        let overTLS = try tls.request("POST", "/console/sign-in", token: "", body: Data("token=\(tls.adminToken)".utf8))
        #expect((Self.setCookie(overTLS) ?? "").contains("Secure"))
        #expect(overTLS.headers.contains("Strict-Transport-Security"))
        let proxied = try ServerHarness(arguments: ["--trust-forwarded"])
        defer { proxied.cleanup() }
        let forwarded = try proxied.request(
            "POST", "/console/sign-in", token: "", body: Data("token=\(proxied.adminToken)".utf8), headers: ["X-Forwarded-Proto": "https"])
        #expect((Self.setCookie(forwarded) ?? "").contains("Secure"))
    }

    /// Sign in; open a session made from a real tree and a file; a hostile name and content stay
    /// text; fork; an API write appears live; compare fork and base; annotate a line; request
    /// review; promote refused by policy; another user approves; promote succeeds and the ref
    /// moves; a form post without the CSRF token is refused; another tenant cannot open the
    /// session by URL; sign out.
    @Test func realFlowsInChromium() throws {
        let tools = Self.repositoryRoot + "/.tools/python"
        try #require(FileManager.default.fileExists(atPath: tools + "/playwright"), "Playwright missing from \(tools): run scripts/bootstrap.sh")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"), "Debian's chromium is missing: run scripts/bootstrap.sh")
        let server = try ServerHarness(backend: .tls)
        defer { server.cleanup() }
        // A session made from a real tree: this repository's TLS module and README.
        let tree = server.data + "-project"
        try FileManager.default.createDirectory(atPath: tree + "/Sources", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.repositoryRoot + "/Sources/AFSTLS", toPath: tree + "/Sources/AFSTLS")
        try FileManager.default.copyItem(atPath: Self.repositoryRoot + "/README.md", toPath: tree + "/README.md")
        defer { try? FileManager.default.removeItem(atPath: tree) }
        let created = try server.request("POST", "/v1/sessions", json: ["name": "project", "source": ["kind": "directory", "path": tree]])
        #expect(created.status == 201, "\(created.text)")
        let session = try #require(try created.object()["id"] as? String)
        let hostile = "/<img src=x onerror=alert(1)>.md"
        let escapedPath = hostile.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "<>= ")))!
        #expect(try server.request("PUT", "/v1/sessions/\(session)/files\(escapedPath)", body: Data("<script>alert(2)</script>\n<b>bold</b>\n".utf8)).status == 201)
        // Promoting into main takes one approval.
        #expect(try server.request("PUT", "/v1/refs/main/policy", json: ["required_approvals": 1]).status == 200)
        let reviewer = try #require(try server.request("POST", "/v1/tokens", json: ["tenant": "admin", "role": "writer", "label": "reviewer"]).object()["token"] as? String)
        let outsider = try #require(try server.request("POST", "/v1/tokens", json: ["tenant": "other", "role": "writer", "label": "outsider"]).object()["token"] as? String)
        let outsiderSession = try #require(
            try server.request("POST", "/v1/sessions", token: outsider, json: ["name": "theirs", "source": ["kind": "blank"]]).object()["id"] as? String)
        let readme = try String(contentsOfFile: Self.repositoryRoot + "/README.md", encoding: .utf8)
        let screenshots = ProcessInfo.processInfo.environment["AFS_CONSOLE_SCREENSHOTS"] ?? ""
        let setup: [String: Any] = [
            "base": server.base, "admin": server.adminToken, "reviewer": reviewer, "outsider": outsider, "session": session,
            "outsider_session": outsiderSession, "hostile": hostile, "readme_first_line": String(readme.split(separator: "\n")[0]),
            "screenshots": screenshots,
        ]
        let setupFile = server.data + "/console-setup.json"
        try JSONSerialization.data(withJSONObject: setup).write(to: URL(fileURLWithPath: setupFile))
        let run = try ChildProcess.run(
            "/usr/bin/env", ["PYTHONPATH=\(tools)", "python3", Self.repositoryRoot + "/Tests/Python/console_flows.py", setupFile])
        let out = String(decoding: run.stdout, as: UTF8.self)
        #expect(run.status == 0, "\(out)\n\(String(decoding: run.stderr, as: UTF8.self).suffix(4000))")
        let seen = try #require(try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any], "\(out)")
        #expect((seen["promote_refused"] as? String ?? "").contains("approval"))
        #expect((seen["commits"] as? Int ?? 0) >= 2, "the fork's commits on its checkpoints page")
        let refs = try #require(seen["refs"] as? [[String: Any]])
        #expect(refs.contains { $0["name"] as? String == "main" })
        #expect((seen["conflicts"] as? String ?? "").contains("/README.md"))
        #expect(seen["diff_against_ref"] as? Bool == true, "line changes against the ref main")
        #expect(seen["fresh_fork_physical"] as? String == "0 B")
        #expect(seen["stale_page_dropped"] as? Bool == true)
    }

    /// The workspaces page against afs-server linked to a real afs-vmd (bubblewrap): create with a
    /// preset, start, the indicator moving through starting to running by itself, events, stop,
    /// delete; another tenant neither sees nor drives the workspace.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/bwrap"), "needs root and bubblewrap (scripts/bootstrap.sh)"))
    func workspacesInChromium() throws {
        let tools = Self.repositoryRoot + "/.tools/python"
        try #require(FileManager.default.fileExists(atPath: tools + "/playwright"), "Playwright missing from \(tools): run scripts/bootstrap.sh")
        let vmd = try VMDProcess(arguments: ["--driver", "bwrap"])
        defer { vmd.cleanup() }
        let server = try ServerHarness(arguments: ["--workspaces", vmd.base], environment: ["AFS_WORKSPACES_TOKEN": vmd.token])
        defer { server.cleanup() }
        let session = try #require(try server.request("POST", "/v1/sessions", json: ["name": "app", "source": ["kind": "blank"]]).object()["id"] as? String)
        let outsider = try #require(try server.request("POST", "/v1/tokens", json: ["tenant": "other", "role": "writer"]).object()["token"] as? String)
        // Another tenant cannot make a workspace of someone else's session.
        #expect(try server.request("POST", "/v1/workspaces", token: outsider, json: ["project": session]).status == 404)
        // The user and the base image pass through the gateway to afs-vmd, and its refusals come back.
        let named = try server.request("POST", "/v1/workspaces", json: ["project": session, "user": "dev", "image": "minimal"])
        let namedObject = try named.object()
        #expect(named.status == 201 && namedObject["user"] as? String == "dev" && namedObject["image"] == nil, "\(named)")
        let badUser = try server.request("POST", "/v1/workspaces", json: ["project": session, "user": "Bad User"])
        #expect(badUser.status == 400 && badUser.errorCode == "invalid_argument", "\(badUser)")
        let noBase = try server.request("POST", "/v1/workspaces", json: ["project": session, "image": "current"])
        #expect(noBase.status == 503, "afs-vmd without a guest directory has no base image: \(noBase)")
        if let id = try named.object()["id"] as? String { _ = try server.request("DELETE", "/v1/workspaces/\(id)") }
        let setup: [String: Any] = [
            "base": server.base, "admin": server.adminToken, "outsider": outsider, "session": session,
            "screenshots": ProcessInfo.processInfo.environment["AFS_CONSOLE_SCREENSHOTS"] ?? "",
        ]
        let setupFile = server.data + "/workspaces-setup.json"
        try JSONSerialization.data(withJSONObject: setup).write(to: URL(fileURLWithPath: setupFile))
        let run = try ChildProcess.run("/usr/bin/env", ["PYTHONPATH=\(tools)", "python3", Self.repositoryRoot + "/Tests/Python/console_workspaces.py", setupFile])
        let out = String(decoding: run.stdout, as: UTF8.self)
        #expect(run.status == 0, "\(out)\n\(String(decoding: run.stderr, as: UTF8.self).suffix(4000))")
        // Without --workspaces the API says how to link one.
        let unlinked = try ServerHarness()
        defer { unlinked.cleanup() }
        let off = try unlinked.request("GET", "/v1/workspaces")
        #expect(off.status == 503 && off.errorCode == "workspaces_not_configured")
    }
}
