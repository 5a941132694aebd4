#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Output to the terminal: standard output for results, standard error for diagnostics.
enum Terminal {
    static func write(_ text: String) {
        writeAll(1, text)
    }

    static func writeError(_ text: String) {
        writeAll(2, text)
    }

    private static func writeAll(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += n
        }
        bytes.removeAll()
    }

    static func isTTY(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// Whether to colour output on `fd`.
    static func useColor(_ mode: AnsiMode, fd: Int32, environment: [String: String]) -> Bool {
        switch mode {
        case .always: return true
        case .never: return false
        case .auto:
            if environment["NO_COLOR"].map({ !$0.isEmpty }) ?? false { return false }
            if environment["TERM"] == "dumb" { return false }
            return isTTY(fd)
        }
    }

    /// The process environment.
    static var environment: [String: String] {
        var result: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") {
                result[String(s[..<eq])] = String(s[s.index(after: eq)...])
            }
            p += 1
        }
        return result
    }

    /// Asks on the terminal (standard error) and reads a line from standard input, without echo for
    /// secrets.
    static func prompt(_ question: String, echo: Bool) -> String {
        writeError(question)
        var saved = termios()
        let restore = !echo && tcgetattr(0, &saved) == 0
        if restore {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(0, TCSANOW, &quiet)
        }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(0, &byte, 1) == 1 && byte != 10 { line.append(byte) }
        if restore {
            tcsetattr(0, TCSANOW, &saved)
            writeError("\n")
        }
        while let last = line.last, last == 13 || last == 32 { line.removeLast() }
        return String(decoding: line, as: UTF8.self)
    }

    static func readStandardInput() -> String { String(decoding: readStandardInputBytes(), as: UTF8.self) }

    static func readStandardInputBytes() -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }
}
