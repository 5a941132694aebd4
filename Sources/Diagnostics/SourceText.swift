/// Source files as bytes: where a byte offset is as a line and column, and UTF-8 decoding that
/// refuses invalid text with the place of the first bad byte (instead of replacing it silently).
public enum SourceText {
    /// The 1-based line and column (in characters) of the byte at `offset`.
    public static func location<C: Collection>(ofByte offset: Int, in bytes: C, file: String) -> SourceLocation where C.Element == UInt8 {
        var line = 1
        var lineStart = bytes.startIndex
        var index = bytes.startIndex
        var seen = 0
        while index != bytes.endIndex && seen < offset {
            if bytes[index] == UInt8(ascii: "\n") { line += 1; lineStart = bytes.index(after: index) }
            index = bytes.index(after: index)
            seen += 1
        }
        // Columns count characters: continuation bytes (10xxxxxx) do not start one.
        var column = 1
        var i = lineStart
        while i != index {
            if bytes[i] & 0xC0 != 0x80 { column += 1 }
            i = bytes.index(after: i)
        }
        return SourceLocation(file: file, line: line, column: column)
    }

    /// A file that is not valid UTF-8: where, and what was found there.
    public struct InvalidUTF8: Error, Sendable {
        public var location: SourceLocation
        public var byte: UInt8

        public var message: String {
            "the file is not valid UTF-8: byte 0x\(String(byte, radix: 16, uppercase: true)) cannot appear here (save the file as UTF-8)"
        }
    }

    /// The text, or where its first invalid UTF-8 sequence starts.
    public static func decode(_ bytes: [UInt8], file: String) throws(InvalidUTF8) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        let offset = firstInvalidOffset(bytes)
        throw InvalidUTF8(location: location(ofByte: offset, in: bytes, file: file), byte: bytes[offset])
    }

    static func firstInvalidOffset(_ b: [UInt8]) -> Int {
        var i = 0
        while i < b.count {
            let c = b[i]
            let length: Int
            var minimum: UInt32 = 0
            switch c {
            case 0x00...0x7F: i += 1; continue
            case 0xC2...0xDF: length = 2; minimum = 0x80
            case 0xE0...0xEF: length = 3; minimum = 0x800
            case 0xF0...0xF4: length = 4; minimum = 0x10000
            default: return i
            }
            guard i + length <= b.count else { return i }
            var scalar = UInt32(c) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
            for k in 1..<length {
                guard b[i + k] & 0xC0 == 0x80 else { return i }
                scalar = scalar << 6 | UInt32(b[i + k] & 0x3F)
            }
            if scalar < minimum || scalar > 0x10FFFF || (0xD800...0xDFFF).contains(scalar) { return i }
            i += length
        }
        return b.count
    }
}
