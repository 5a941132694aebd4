#if canImport(Glibc)
import Glibc
#endif

/// Timing marks on standard error when `SWCOMPOSE_TRACE` is set (the supervisor's go to its log):
/// `trace 12.345 ms [pid] label`. For finding where a start spends its time. `SWCOMPOSE_TRACE=abs`
/// counts from the machine's monotonic origin instead of the process's start, so that the marks of
/// the CLI, the supervisor and the helpers sort into one timeline.
public enum Trace {
    public static let enabled: Bool = getenv("SWCOMPOSE_TRACE") != nil
    static let origin = getenv("SWCOMPOSE_TRACE").map { String(cString: $0) } == "abs" ? 0 : MonotonicClock.now()

    public static func mark(_ label: @autoclosure () -> String) {
        guard enabled else { return }
        let ms = (MonotonicClock.now() - origin) * 1000
        let whole = Int(ms), frac = Int((ms - Double(whole)) * 1000)
        let line = "trace \(whole).\(frac < 10 ? "00" : frac < 100 ? "0" : "")\(frac) ms [\(Sys.pid)] \(label())\n"
        Array(line.utf8).withUnsafeBytes { try? Sys.write(2, $0) }
    }

    /// The environment to hand to helpers so that they trace too.
    public static var environment: [String] { enabled ? ["SWCOMPOSE_TRACE=\(origin == 0 ? "abs" : "1")"] : [] }
}
