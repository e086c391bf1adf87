import Foundation

extension AetherStore {
    /// Most changes one batch may carry.
    public static let batchChangeLimit = 1000
    /// Most bytes one batch may write.
    public static let batchByteLimit = 16 << 20

    /// Applies `changes` in order, each exactly as its own call would (``makeDirectory(_:path:parents:mode:context:)``
    /// without parents, ``remove(_:path:recursive:context:)`` without recursion,
    /// ``writeFile(_:path:data:mode:context:)`` with an explicit time), and returns once every
    /// change that succeeded is durable: one durable wait for the whole batch rather than one per
    /// change. A refused change does not stop the others (a later change of the same path sees
    /// the state the refusal left); each outcome carries its refusal or, for a created directory
    /// or written file, the entry's metadata afterwards.
    public func apply(_ session: String, _ changes: [BatchChange], context: MutationContext = .anonymous) throws(AFSError) -> [BatchOutcome] {
        guard changes.count <= AetherStore.batchChangeLimit else {
            throw AFSError.invalidArgument("a batch carries at most \(AetherStore.batchChangeLimit) changes; this one has \(changes.count)")
        }
        let bytes = changes.reduce(0) { $0 + ($1.data?.count ?? 0) }
        guard bytes <= AetherStore.batchByteLimit else {
            throw AFSError.invalidArgument("a batch writes at most \(AetherStore.batchByteLimit) bytes; this one writes \(bytes)")
        }
        // Under the GC gate throughout: chunks stored below before their files are recorded must
        // not look unreferenced to a collection that starts in between.
        let errors = try gate.withReadLock { () throws(AFSError) -> [AFSError?] in try applyUnderGate(session, changes, context: context) }
        return try zip(changes, errors).map { (change, error) throws(AFSError) -> BatchOutcome in
            guard error == nil, change.op != .remove else { return BatchOutcome(path: change.path, error: error) }
            return BatchOutcome(path: change.path, stat: try? stat(session, path: change.path))
        }
    }

    private func applyUnderGate(_ session: String, _ changes: [BatchChange], context: MutationContext) throws(AFSError) -> [AFSError?] {
        // Files too large for the journal: their chunks first, with one sync of the chunk log for
        // all of them (one each, when written one by one).
        var stored: [Int: Result<TreeValue.Content, AFSError>] = [:]
        for (i, change) in changes.enumerated() where change.op == .write {
            guard let data = change.data, data.count > options.journalInlineLimit else { continue }
            do throws(AFSError) {
                stored[i] = .success(try content.store([UInt8](data)))
            } catch {
                stored[i] = .failure(error)
            }
        }
        if stored.values.contains(where: { if case .success = $0 { true } else { false } }) { try log.sync() }
        var errors: [AFSError?] = []
        // The newest ticket of each journal written (a fold may start a new one mid-batch).
        var waits: [ObjectIdentifier: (SessionJournal, UInt64)] = [:]
        for (i, change) in changes.enumerated() {
            do throws(AFSError) {
                let p = try SessionPath(change.path)
                let recorded: (SessionJournal, UInt64)?
                switch change.op {
                case .mkdir:
                    recorded = try recordMakeDirectory(session, p, parents: false, mode: change.mode ?? 0o755, context: context)
                case .remove:
                    recorded = try recordRemove(session, p, recursive: false, context: context)
                case .chmod:
                    guard let mode = change.mode, mode <= 0o7777 else { throw AFSError.invalidArgument("chmod of \(p) needs a mode of at most 0o7777") }
                    recorded = try recordSetMode(session, p, mode: mode, context: context)
                case .times:
                    guard change.mtime != nil || change.atime != nil else { throw AFSError.invalidArgument("times of \(p) needs mtime, atime or both") }
                    recorded = try recordSetTimes(session, p, mtime: change.mtime, atime: change.atime, context: context)
                case .write:
                    guard let data = change.data else { throw AFSError.invalidArgument("write of \(p) carries no data") }
                    let content = try stored[i]?.get()
                    recorded = try recordWrite(
                        session, p, data: [UInt8](data), stored: content, mode: change.mode, mtime: change.mtime, ctime: change.ctime, context: context)
                }
                if let (journal, ticket) = recorded, ticket > 0 {
                    let key = ObjectIdentifier(journal)
                    waits[key] = (journal, max(ticket, waits[key]?.1 ?? 0))
                }
                errors.append(nil)
            } catch {
                errors.append(error)
            }
        }
        for (journal, ticket) in waits.values { try journal.waitDurable(ticket) }
        return errors
    }
}
