import Foundation

/// The QEMU Machine Protocol over the VM's unix socket: capabilities handshake, then one command
/// at a time, skipping asynchronous events until the command's `return` or `error`.
struct QMPClient {
    private let socket: UnixLineSocket

    init(path: String, timeout: Double = 5) throws(WorkspaceError) {
        socket = try UnixLineSocket(path: path, timeout: timeout)
        let greeting = try socket.readLine()
        guard greeting.contains("\"QMP\"") else { throw WorkspaceError(.driver, "\(path) is not a QMP socket (greeting: \(greeting.prefix(80)))") }
        _ = try execute("qmp_capabilities")
    }

    /// Runs `command` and returns its `return` value.
    @discardableResult
    func execute(_ command: String, arguments: [String: any Sendable] = [:]) throws(WorkspaceError) -> Any {
        var message: [String: Any] = ["execute": command]
        if !arguments.isEmpty { message["arguments"] = arguments }
        guard let data = try? JSONSerialization.data(withJSONObject: message) else {
            throw WorkspaceError(.invalidArgument, "cannot encode QMP command \(command)")
        }
        try socket.writeLine(String(decoding: data, as: UTF8.self))
        while true {
            let line = try socket.readLine()
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { continue }
            if let value = object["return"] { return value }
            if let error = object["error"] as? [String: Any] {
                throw WorkspaceError(.driver, "QMP \(command) failed: \(error["desc"] as? String ?? "\(error)")")
            }
        }
    }

    /// The VM's `-name`.
    func name() throws(WorkspaceError) -> String? {
        (try execute("query-name") as? [String: Any])?["name"] as? String
    }
}
