#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Engine

/// Output to the terminal: standard output for results, standard error for diagnostics.
enum Terminal {
    static func write(_ text: String) {
        writeAll(1, text)
    }

    static func writeError(_ text: String) {
        writeAll(2, text)
    }

    private static func writeAll(_ fd: Int32, _ text: String) {
        Array(text.utf8).withUnsafeBytes { try? Sys.write(fd, $0) }
    }

    static func isTTY(_ fd: Int32) -> Bool { TerminalIO.isTerminal(fd) }

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
        var line = TerminalIO.readLine(echo: echo)
        if !echo { writeError("\n") }
        while let last = line.last, last == 13 || last == 32 { line.removeLast() }
        return String(decoding: line, as: UTF8.self)
    }

    static func readStandardInput() -> String { String(decoding: readStandardInputBytes(), as: UTF8.self) }

    static func readStandardInputBytes() -> [UInt8] {
        (try? FileHandle(Sys.duplicate(0)).readAll()) ?? []
    }
}
