import AFSClient
import AFSTLS
import AFSWorkspaceModel
import ArgumentParser
import Foundation

enum WorkspaceText {
    static let day: DateFormatter = {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        f.locale = Locale(identifier: "en_US_POSIX")
        return f
    }()

    static func table(_ list: [Workspace]) -> String {
        let rows = [["ID", "PROJECT", "STATUS", "HARDWARE", "CREATED"]]
            + list.map { [$0.id, $0.project, $0.status.rawValue, $0.hardware.summary, day.string(from: $0.createdAt)] }
        let widths = (0..<5).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in c == 4 ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func detail(_ ws: Workspace) -> String {
        var lines = [
            "id:           \(ws.id)",
            "project:      \(ws.project)",
            "status:       \(ws.status.rawValue)" + (ws.desired.rawValue != ws.status.rawValue && ws.status.isTransitional ? " (→ \(ws.desired.rawValue))" : ""),
            "hardware:     \(ws.hardware.summary), \(ws.hardware.cpuKind.rawValue) cpu, \(ws.hardware.volumeSizeGB) GB volume" + (ws.hardware.gpuKind.map { ", gpu \($0)" } ?? ""),
            "driver:       \(ws.driver)" + (ws.runtime?.accelerator.map { " (\($0))" } ?? ""),
            "image:        \(ws.image ?? "minimal (no base image)")",
            "user:         \(ws.loginUser ?? "root")",
            "idle timeout: " + (ws.idleTimeout == 0 ? "disabled" : "\(ws.idleTimeout) s"),
            "created:      \(ISO8601DateFormatter().string(from: ws.createdAt))",
            "last active:  \(ISO8601DateFormatter().string(from: ws.lastActiveAt))",
        ]
        if let port = ws.runtime?.sshPort { lines.append("ssh:          127.0.0.1:\(port) (aether workspace ssh \(ws.id))") }
        if let error = ws.error { lines.append("error:        \(error)") }
        return lines.joined(separator: "\n")
    }
}
