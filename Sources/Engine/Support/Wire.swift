/// A compact, self-describing binary form for `Codable` values, used where swcompose's own processes
/// talk to each other (the container helper's spec, the supervisor's control messages). It needs no
/// Foundation, so the start path of a container stays free of it.
///
/// Encoding: one tag byte, then the payload. Integers are zig-zag varints; strings and byte runs are a
/// varint length and UTF-8; arrays and maps are a varint count and their elements (maps as key, value).
public enum Wire {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = WireTreeEncoder()
        if let bytes = value as? [UInt8] { encoder.node.set(.bytes(bytes)) } else { try value.encode(to: encoder) }
        var out: [UInt8] = []
        encoder.storage.value.write(to: &out)
        return out
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        var reader = WireReader(bytes: bytes)
        let tree = try reader.readValue()
        guard reader.offset == bytes.count else { throw WireError.malformed("trailing bytes") }
        return try T(from: WireTreeDecoder(tree, path: []))
    }
}

public enum WireError: Error, CustomStringConvertible {
    case malformed(String)
    case mismatch(String, path: [CodingKey])

    public var description: String {
        switch self {
        case .malformed(let s): return "malformed message: \(s)"
        case .mismatch(let s, let path): return "message field \(path.map(\.stringValue).joined(separator: ".")): \(s)"
        }
    }
}

indirect enum WireValue {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([WireValue])
    case map([(String, WireValue)])
    case bytes([UInt8])

    func write(to out: inout [UInt8]) {
        func varint(_ v: UInt64) {
            var v = v
            while v >= 0x80 { out.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
            out.append(UInt8(v))
        }
        func string(_ s: String) {
            var s = s
            s.withUTF8 { buf in varint(UInt64(buf.count)); out.append(contentsOf: buf) }
        }
        switch self {
        case .null: out.append(0)
        case .bool(let b): out.append(b ? 2 : 1)
        case .int(let i): out.append(3); varint(UInt64(bitPattern: (i << 1) ^ (i >> 63)))
        case .double(let d): out.append(4); varint(d.bitPattern)
        case .string(let s): out.append(5); string(s)
        case .array(let a):
            out.append(6); varint(UInt64(a.count))
            for v in a { v.write(to: &out) }
        case .map(let m):
            out.append(7); varint(UInt64(m.count))
            for (k, v) in m { string(k); v.write(to: &out) }
        case .bytes(let b):
            out.append(8); varint(UInt64(b.count)); out.append(contentsOf: b)
        }
    }
}

struct WireReader {
    let bytes: [UInt8]
    var offset = 0

    mutating func byte() throws -> UInt8 {
        guard offset < bytes.count else { throw WireError.malformed("truncated") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw WireError.malformed("varint too long") }
            result |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }

    mutating func string() throws -> String {
        let n = Int(try varint())
        guard n >= 0, offset + n <= bytes.count else { throw WireError.malformed("truncated string") }
        defer { offset += n }
        return String(decoding: bytes[offset..<(offset + n)], as: UTF8.self)
    }

    mutating func readValue(depth: Int = 0) throws -> WireValue {
        guard depth < 64 else { throw WireError.malformed("nested too deeply") }
        switch try byte() {
        case 0: return .null
        case 1: return .bool(false)
        case 2: return .bool(true)
        case 3:
            let z = try varint()
            return .int(Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1))
        case 4: return .double(Double(bitPattern: try varint()))
        case 5: return .string(try string())
        case 6:
            let n = Int(try varint())
            guard n <= bytes.count - offset else { throw WireError.malformed("bad count") }
            var a: [WireValue] = []
            a.reserveCapacity(n)
            for _ in 0..<n { a.append(try readValue(depth: depth + 1)) }
            return .array(a)
        case 7:
            let n = Int(try varint())
            guard n <= bytes.count - offset else { throw WireError.malformed("bad count") }
            var m: [(String, WireValue)] = []
            m.reserveCapacity(n)
            for _ in 0..<n { m.append((try string(), try readValue(depth: depth + 1))) }
            return .map(m)
        case 8:
            let n = Int(try varint())
            guard n >= 0, offset + n <= bytes.count else { throw WireError.malformed("truncated bytes") }
            defer { offset += n }
            return .bytes(Array(bytes[offset..<(offset + n)]))
        default: throw WireError.malformed("unknown tag")
        }
    }
}

// MARK: - Encoding

/// A reference to a slot in the tree under construction. Children live in arrays owned by the node
/// (appended in place: building is linear).
final class WireNode {
    enum Kind { case unset, single, keyed, unkeyed }
    var kind: Kind = .unset
    var single: WireValue = .null
    var entries: [(String, WireNode)] = []
    var items: [WireNode] = []

    var value: WireValue {
        switch kind {
        case .unset: return .null
        case .single: return single
        case .keyed: return .map(entries.map { ($0.0, $0.1.value) })
        case .unkeyed: return .array(items.map(\.value))
        }
    }

    func set(_ v: WireValue) {
        kind = .single
        single = v
    }
}

final class WireTreeEncoder: Encoder {
    let node: WireNode
    var codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(node: WireNode = WireNode(), path: [CodingKey] = []) {
        self.node = node
        self.codingPath = path
    }

    var storage: WireNode { node }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if node.kind != .keyed { node.kind = .keyed; node.entries = [] }
        return KeyedEncodingContainer(WireKeyedEncoder<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        if node.kind != .unkeyed { node.kind = .unkeyed; node.items = [] }
        return WireUnkeyedEncoder(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer {
        WireSingleEncoder(node: node, codingPath: codingPath)
    }
}

struct WireKeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: WireNode
    var codingPath: [CodingKey]

    private func child(_ key: Key) -> WireNode {
        let child = WireNode()
        if let i = node.entries.firstIndex(where: { $0.0 == key.stringValue }) { node.entries.remove(at: i) }
        node.entries.append((key.stringValue, child))
        return child
    }

    private func put(_ v: WireValue, _ key: Key) { child(key).set(v) }

    mutating func encodeNil(forKey key: Key) throws { put(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { put(.double(value), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { put(.double(Double(value)), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(.int(Int64(value)), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { put(.int(Int64(value)), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { put(.int(Int64(value)), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { put(.int(Int64(value)), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(.int(value), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { put(.int(Int64(bitPattern: UInt64(value))), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { put(.int(Int64(value)), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { put(.int(Int64(value)), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { put(.int(Int64(value)), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { put(.int(Int64(bitPattern: value)), key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        if let bytes = value as? [UInt8] { return put(.bytes(bytes), key) }
        try value.encode(to: WireTreeEncoder(node: child(key), path: codingPath + [key]))
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        WireTreeEncoder(node: child(key), path: codingPath + [key]).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        WireTreeEncoder(node: child(key), path: codingPath + [key]).unkeyedContainer()
    }
    mutating func superEncoder() -> Encoder { WireTreeEncoder(node: node, path: codingPath) }
    mutating func superEncoder(forKey key: Key) -> Encoder { WireTreeEncoder(node: child(key), path: codingPath + [key]) }
}

struct WireUnkeyedEncoder: UnkeyedEncodingContainer, WireValueEncoding {
    let node: WireNode
    var codingPath: [CodingKey]
    var count: Int { node.items.count }

    private func child() -> WireNode {
        let child = WireNode()
        node.items.append(child)
        return child
    }

    /// Each value goes into a new item.
    func target() -> WireNode { child() }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        WireTreeEncoder(node: child(), path: codingPath).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        WireTreeEncoder(node: child(), path: codingPath).unkeyedContainer()
    }
    mutating func superEncoder() -> Encoder { WireTreeEncoder(node: child(), path: codingPath) }
}

struct WireSingleEncoder: SingleValueEncodingContainer, WireValueEncoding {
    let node: WireNode
    var codingPath: [CodingKey]

    func target() -> WireNode { node }
}

/// The unkeyed and single-value containers store values the same way, each in the node `target()`
/// gives (a new item of a list, or the container's own node).
protocol WireValueEncoding {
    var codingPath: [CodingKey] { get }
    func target() -> WireNode
}

extension WireValueEncoding {
    private func put(_ v: WireValue) { target().set(v) }

    mutating func encodeNil() throws { put(.null) }
    mutating func encode(_ value: Bool) throws { put(.bool(value)) }
    mutating func encode(_ value: String) throws { put(.string(value)) }
    mutating func encode(_ value: Double) throws { put(.double(value)) }
    mutating func encode(_ value: Float) throws { put(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { put(.int(Int64(value))) }
    mutating func encode(_ value: Int8) throws { put(.int(Int64(value))) }
    mutating func encode(_ value: Int16) throws { put(.int(Int64(value))) }
    mutating func encode(_ value: Int32) throws { put(.int(Int64(value))) }
    mutating func encode(_ value: Int64) throws { put(.int(value)) }
    mutating func encode(_ value: UInt) throws { put(.int(Int64(bitPattern: UInt64(value)))) }
    mutating func encode(_ value: UInt8) throws { put(.int(Int64(value))) }
    mutating func encode(_ value: UInt16) throws { put(.int(Int64(value))) }
    mutating func encode(_ value: UInt32) throws { put(.int(Int64(value))) }
    mutating func encode(_ value: UInt64) throws { put(.int(Int64(bitPattern: value))) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        if let bytes = value as? [UInt8] { return put(.bytes(bytes)) }
        try value.encode(to: WireTreeEncoder(node: target(), path: codingPath))
    }
}

// MARK: - Decoding

struct WireTreeDecoder: Decoder {
    let value: WireValue
    var codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(_ value: WireValue, path: [CodingKey]) {
        self.value = value
        self.codingPath = path
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .map(let entries) = value else { throw WireError.mismatch("expected a map", path: codingPath) }
        var dict: [String: WireValue] = [:]
        for (k, v) in entries { dict[k] = v }
        return KeyedDecodingContainer(WireKeyedDecoder<Key>(entries: dict, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw WireError.mismatch("expected an array", path: codingPath) }
        return WireUnkeyedDecoder(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer {
        WireSingleDecoder(value: value, codingPath: codingPath)
    }
}

enum WireScalar {
    static func int<T: FixedWidthInteger>(_ v: WireValue, _ path: [CodingKey]) throws -> T {
        guard case .int(let i) = v else { throw WireError.mismatch("expected an integer", path: path) }
        if T.isSigned {
            guard let r = T(exactly: i) else { throw WireError.mismatch("integer out of range", path: path) }
            return r
        }
        guard let r = T(exactly: UInt64(bitPattern: i)) else { throw WireError.mismatch("integer out of range", path: path) }
        return r
    }

    static func bool(_ v: WireValue, _ path: [CodingKey]) throws -> Bool {
        guard case .bool(let b) = v else { throw WireError.mismatch("expected a boolean", path: path) }
        return b
    }

    static func string(_ v: WireValue, _ path: [CodingKey]) throws -> String {
        guard case .string(let s) = v else { throw WireError.mismatch("expected a string", path: path) }
        return s
    }

    static func double(_ v: WireValue, _ path: [CodingKey]) throws -> Double {
        switch v {
        case .double(let d): return d
        case .int(let i): return Double(i)
        default: throw WireError.mismatch("expected a number", path: path)
        }
    }
}

struct WireKeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let entries: [String: WireValue]
    var codingPath: [CodingKey]
    var allKeys: [Key] { entries.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { entries[key.stringValue] != nil }

    private func value(_ key: Key) throws -> WireValue {
        guard let v = entries[key.stringValue] else { throw WireError.mismatch("missing", path: codingPath + [key]) }
        return v
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try value(key) { return true }
        return false
    }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try WireScalar.bool(value(key), codingPath + [key]) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try WireScalar.string(value(key), codingPath + [key]) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try WireScalar.double(value(key), codingPath + [key]) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { Float(try WireScalar.double(value(key), codingPath + [key])) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try WireScalar.int(value(key), codingPath + [key]) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try WireScalar.int(value(key), codingPath + [key]) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try WireScalar.int(value(key), codingPath + [key]) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try WireScalar.int(value(key), codingPath + [key]) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try WireScalar.int(value(key), codingPath + [key]) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try WireScalar.int(value(key), codingPath + [key]) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try WireScalar.int(value(key), codingPath + [key]) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try WireScalar.int(value(key), codingPath + [key]) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try WireScalar.int(value(key), codingPath + [key]) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try WireScalar.int(value(key), codingPath + [key]) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let v = try value(key)
        if case .bytes(let b) = v, let r = b as? T { return r }
        return try T(from: WireTreeDecoder(v, path: codingPath + [key]))
    }
    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try WireTreeDecoder(value(key), path: codingPath + [key]).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        try WireTreeDecoder(value(key), path: codingPath + [key]).unkeyedContainer()
    }
    func superDecoder() throws -> Decoder { WireTreeDecoder(.map(entries.map { ($0.key, $0.value) }), path: codingPath) }
    func superDecoder(forKey key: Key) throws -> Decoder { WireTreeDecoder(try value(key), path: codingPath + [key]) }
}

struct WireUnkeyedDecoder: UnkeyedDecodingContainer {
    let items: [WireValue]
    var codingPath: [CodingKey]
    var currentIndex = 0
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    init(items: [WireValue], codingPath: [CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    private mutating func next() throws -> WireValue {
        guard !isAtEnd else { throw WireError.mismatch("array too short", path: codingPath) }
        defer { currentIndex += 1 }
        return items[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        if case .null = items[currentIndex] { currentIndex += 1; return true }
        return false
    }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try WireScalar.bool(next(), codingPath) }
    mutating func decode(_ type: String.Type) throws -> String { try WireScalar.string(next(), codingPath) }
    mutating func decode(_ type: Double.Type) throws -> Double { try WireScalar.double(next(), codingPath) }
    mutating func decode(_ type: Float.Type) throws -> Float { Float(try WireScalar.double(next(), codingPath)) }
    mutating func decode(_ type: Int.Type) throws -> Int { try WireScalar.int(next(), codingPath) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try WireScalar.int(next(), codingPath) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try WireScalar.int(next(), codingPath) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try WireScalar.int(next(), codingPath) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try WireScalar.int(next(), codingPath) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try WireScalar.int(next(), codingPath) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try WireScalar.int(next(), codingPath) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try WireScalar.int(next(), codingPath) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try WireScalar.int(next(), codingPath) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try WireScalar.int(next(), codingPath) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let v = try next()
        if case .bytes(let b) = v, let r = b as? T { return r }
        return try T(from: WireTreeDecoder(v, path: codingPath))
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try WireTreeDecoder(next(), path: codingPath).container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
        try WireTreeDecoder(next(), path: codingPath).unkeyedContainer()
    }
    mutating func superDecoder() throws -> Decoder { WireTreeDecoder(try next(), path: codingPath) }
}

struct WireSingleDecoder: SingleValueDecodingContainer {
    let value: WireValue
    var codingPath: [CodingKey]

    func decodeNil() -> Bool {
        if case .null = value { return true }
        return false
    }
    func decode(_ type: Bool.Type) throws -> Bool { try WireScalar.bool(value, codingPath) }
    func decode(_ type: String.Type) throws -> String { try WireScalar.string(value, codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try WireScalar.double(value, codingPath) }
    func decode(_ type: Float.Type) throws -> Float { Float(try WireScalar.double(value, codingPath)) }
    func decode(_ type: Int.Type) throws -> Int { try WireScalar.int(value, codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try WireScalar.int(value, codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try WireScalar.int(value, codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try WireScalar.int(value, codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try WireScalar.int(value, codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try WireScalar.int(value, codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try WireScalar.int(value, codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try WireScalar.int(value, codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try WireScalar.int(value, codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try WireScalar.int(value, codingPath) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if case .bytes(let b) = value, let r = b as? T { return r }
        return try T(from: WireTreeDecoder(value, path: codingPath))
    }
}
