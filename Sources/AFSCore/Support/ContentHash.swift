import CCrypto
import CXXHash

/// Hash primitives over raw bytes: SHA-256 for identity, XXH3-64 for checksums.
///
/// SHA-256 comes from the system's libcrypto (SHA-NI where the CPU has it). XXH3 is never an identity:
/// agents write attacker-influenced bytes and XXH3 collisions can be crafted.
package enum ContentHash {
    static func sha256(_ bytes: UnsafeRawBufferPointer) -> ChunkID {
        withUnsafeTemporaryAllocation(byteCount: 32, alignment: 8) { out in
            var length: UInt32 = 32
            let ok = EVP_Digest(
                bytes.baseAddress, bytes.count,
                out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length, EVP_sha256(), nil)
            precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed")
            return ChunkID(bytes: UnsafeRawBufferPointer(out))
        }
    }

    static func sha256(_ bytes: [UInt8]) -> ChunkID {
        bytes.withUnsafeBytes { sha256($0) }
    }

    package static func xxh3(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        XXH3_64bits_withSeed(bytes.baseAddress, bytes.count, seed)
    }

    static func xxh3(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { xxh3($0, seed: seed) }
    }
}
