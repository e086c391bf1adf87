import AFSClient
import AFSCore
import Foundation
import Synchronization

extension SessionFilesystem {
    // MARK: Open-file table

    func openFile(handle: UInt64) -> OpenFile? {
        files.withLock { $0.byHandle[handle] }
    }

    func openFile(at path: String) -> OpenFile? {
        files.withLock { $0.byPath[path] }
    }

    /// Registers a new handle on `file`, or on the one another thread registered for the same path
    /// meanwhile (a `fresh` loser's descriptors are closed): one shared object per path. Nil when
    /// `file` was dropped (its last handle released) after the caller found it in the table: the
    /// caller loads the path again instead of reviving closed descriptors.
    func register(_ file: OpenFile, at path: String, fresh: Bool = true) -> (UInt64, OpenFile)? {
        let registered = files.withLock { t -> (UInt64, OpenFile)? in
            let winner = t.byPath[path] ?? file
            if winner.state.withLock({ $0.dropped }) { return nil }
            t.byPath[path] = winner
            let handle = t.nextHandle
            t.nextHandle += 1
            t.byHandle[handle] = winner
            winner.state.withLock { $0.handles += 1 }
            return (handle, winner)
        }
        guard let (handle, winner) = registered else { return nil }
        // Only a file loaded for this open is ours to close; one found in the table belongs to
        // whoever holds it (renamed away meanwhile, say).
        if winner !== file, fresh { file.closeDescriptors(recycling: scratch) }
        return (handle, winner)
    }

    /// An empty unnamed scratch file next to the cache (same file system: copies stay local),
    /// reused when one is spare (``ScratchPool``).
    func makeScratch() throws(Errno) -> Int32 {
        do throws(Errno) {
            return try scratch.take()
        } catch {
            log("cannot create a scratch file in \(scratchDirectory): \(error)")
            throw error
        }
    }

    /// Gives `file` a writable scratch copy (a copy of its content unless `truncating`).
    func ensureScratch(_ file: OpenFile, truncating: Bool) throws(Errno) {
        if file.state.withLock({ $0.scratch != nil }) {
            if truncating { try file.truncate(to: 0) }
            return
        }
        // The copy needs every byte of a file still being fetched as it is read.
        if !truncating, let partial = file.partial { try fill(file, offset: 0, count: Int(partial.size)) }
        let scratch = try makeScratch()
        let result: Result<Void, Errno> = file.state.withLock { s in
            if s.scratch != nil {
                self.scratch.recycle(scratch)
                return .success(())
            }
            if !truncating, s.readDescriptor >= 0 {
                if case .failure(let e) = SessionFilesystem.copy(from: s.readDescriptor, to: scratch) {
                    self.scratch.recycle(scratch)
                    return .failure(e)
                }
            }
            if s.readDescriptor >= 0 { s.retired.append(s.readDescriptor) }
            s.readDescriptor = scratch
            s.scratch = scratch
            if truncating {
                s.dirty = true
                s.pendingMtime = nil
            }
            return .success(())
        }
        try result.get()
    }

    static func copy(from source: Int32, to destination: Int32) -> Result<Void, Errno> {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: off_t = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(source, $0.baseAddress!, $0.count, offset) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(Errno(errno))
            }
            if n == 0 { return .success(()) }
            var done = 0
            while done < n {
                let w = buffer.withUnsafeBytes { pwrite(destination, $0.baseAddress! + done, n - done, offset + off_t(done)) }
                if w < 0 {
                    if errno == EINTR { continue }
                    return .failure(Errno(errno))
                }
                done += w
            }
            offset += off_t(n)
        }
    }
}
