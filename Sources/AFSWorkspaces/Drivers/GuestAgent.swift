import Foundation

/// The line protocol of the in-guest agent on the virtio-serial port `org.aether.agent`:
/// `ping` → `pong uptime=S`, `status` → `conns=N tasks=N uptime=S`, `shutdown` → `bye`.
///
/// Every request carries an id (`status 42` → `… id=42`) and only the reply with that id counts:
/// the agent hands replies meant for a client that hung up to the next one, and greets its first
/// client with an unsolicited `AFS_AGENT ready`.
struct GuestAgent {
    let path: String
    var timeout: Double = 2

    func ping() -> Bool {
        (try? exchange("ping", expecting: "pong")) != nil
    }

    func status() -> Activity? {
        guard let line = try? exchange("status", expecting: "conns=") else { return nil }
        var fields: [String: Int] = [:]
        for pair in line.split(separator: " ") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2, let v = Int(kv[1]) { fields[String(kv[0])] = v }
        }
        guard let conns = fields["conns"] else { return nil }
        return Activity(connections: conns, tasks: fields["tasks"] ?? 0)
    }

    /// Asks the guest to sync and power off; true when it acknowledged.
    func shutdown() -> Bool {
        (try? exchange("shutdown", expecting: "bye")) != nil
    }

    private func exchange(_ command: String, expecting prefix: String) throws(WorkspaceError) -> String {
        let socket = try UnixLineSocket(path: path, timeout: timeout)
        let id = UInt32.random(in: 1...UInt32.max)
        try socket.writeLine("\(command) \(id)")
        let suffix = " id=\(id)"
        for _ in 0..<32 {
            let line = try socket.readLine()
            if line.hasPrefix(prefix) && line.hasSuffix(suffix) { return String(line.dropLast(suffix.count)) }
        }
        throw WorkspaceError(.driver, "the guest agent did not answer \(command)")
    }
}
