import Foundation
import SwiftProtobuf

/// The proto files a server offers, indexed the way the reflection protocol asks for them: by
/// file name and by fully qualified symbol (services, methods, messages, fields, enums, values).
struct DescriptorIndex: Sendable {
    /// Each file's serialized `FileDescriptorProto`, as reflection returns it.
    private var serialized: [String: Data] = [:]
    private var dependencies: [String: [String]] = [:]
    private var fileOfSymbol: [String: String] = [:]
    /// Fully qualified service names, sorted.
    private(set) var services: [String] = []
    /// Fully qualified message names (extension queries need to know which types exist).
    private(set) var messages: Set<String> = []

    /// Indexes a serialized `FileDescriptorSet` (`protoc --include_imports --descriptor_set_out`).
    init(serializedSet bytes: [UInt8]) throws {
        let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: bytes)
        for file in set.file {
            serialized[file.name] = try file.serializedData()
            dependencies[file.name] = file.dependency
            let scope = file.package
            for service in file.service {
                let name = DescriptorIndex.qualify(scope, service.name)
                services.append(name)
                fileOfSymbol[name] = file.name
                for method in service.method { fileOfSymbol[name + "." + method.name] = file.name }
            }
            for message in file.messageType { index(message, in: scope, file: file.name) }
            for enumType in file.enumType { index(enumType, in: scope, file: file.name) }
            for field in file.`extension` { fileOfSymbol[DescriptorIndex.qualify(scope, field.name)] = file.name }
        }
        services.sort()
    }

    private static func qualify(_ scope: String, _ name: String) -> String {
        scope.isEmpty ? name : scope + "." + name
    }

    private mutating func index(_ message: Google_Protobuf_DescriptorProto, in scope: String, file: String) {
        let name = DescriptorIndex.qualify(scope, message.name)
        messages.insert(name)
        fileOfSymbol[name] = file
        for field in message.field { fileOfSymbol[name + "." + field.name] = file }
        for oneof in message.oneofDecl { fileOfSymbol[name + "." + oneof.name] = file }
        for nested in message.nestedType { index(nested, in: name, file: file) }
        for enumType in message.enumType { index(enumType, in: name, file: file) }
    }

    private mutating func index(_ enumType: Google_Protobuf_EnumDescriptorProto, in scope: String, file: String) {
        fileOfSymbol[DescriptorIndex.qualify(scope, enumType.name)] = file
        // Enum values are scoped beside their enum, as in C++.
        for value in enumType.value { fileOfSymbol[DescriptorIndex.qualify(scope, value.name)] = file }
    }

    /// The file defining `symbol`, if any.
    func file(containing symbol: String) -> String? {
        fileOfSymbol[symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol]
    }

    /// `name` and every file it depends on, transitively, `name` first and each file once: a
    /// client needs the whole closure to build the descriptors. Nil if `name` is unknown.
    func fileWithDependencies(_ name: String) -> [Data]? {
        guard serialized[name] != nil else { return nil }
        var order: [String] = []
        var seen: Set<String> = []
        var pending = [name]
        while let next = pending.popLast() {
            guard seen.insert(next).inserted, serialized[next] != nil else { continue }
            order.append(next)
            pending.append(contentsOf: (dependencies[next] ?? []).reversed())
        }
        return order.compactMap { serialized[$0] }
    }
}
