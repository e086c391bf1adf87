import AFSClient
import AFSCore
import ArgumentParser
import Foundation

/// Follows a feed. Against a server, each poll is a long poll (the server answers as soon as
/// something arrives). With an embedded store it polls: open, read, close, sleep, so the store is
/// never held between polls and other aether processes can write (they wait up to 10 s for the lock).
func followLoop(_ global: GlobalOptions, interval: Double = 0.25, _ poll: (any AetherService, Double) throws(AFSError) -> Void) throws -> Never {
    if global.isRemote {
        let store = try global.openStore()
        while true {
            do { try poll(store, 20) } catch { throw CLIError(error, json: global.json) }
        }
    }
    while true {
        do {
            try global.run { (store) throws(AFSError) in try poll(store, 0) }
        } catch let error as CLIError where error.code == AFSError.Code.storeLocked.rawValue {
            // Another process held the store for longer than the lock wait (a big import, a
            // loaded machine): a follower outlasts that and polls again.
        }
        Thread.sleep(forTimeInterval: interval)
    }
}


func printEvent(_ e: ChangeEvent, json: Bool) {
    if json {
        print(Output.json(e).replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: "  ", with: ""))
        return
    }
    let time = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(e.time) / 1e9))
    var line = "\(e.seq)\t\(time)\t\(e.actor)\t\(e.kind.rawValue)\t\(e.path.isEmpty ? "-" : e.path)"
    if let d = e.detail { line += "\t\(d)" }
    print(line)
}
