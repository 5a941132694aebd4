#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Ctrl-C while attached: the first stops the project gracefully, the second kills it. The handler
/// only increments a lock-free atomic (async-signal-safe); the command reads it between polls.
public enum Interrupts {
    static let received = Atomic<Int32>(0)

    public static var count: Int32 { received.load(ordering: .acquiring) }

    static let handler: @convention(c) (Int32) -> Void = { _ in Interrupts.received.wrappingAdd(1, ordering: .releasing) }

    public static func install() {
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
    }

    /// Counts Ctrl-C (and SIGTERM, SIGHUP) while `body` runs, on whichever thread they arrive, then
    /// restores what was there; `body` reads `count` against the value it started from.
    public static func counting<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        let previous = [SIGINT, SIGTERM, SIGHUP].map { ($0, signal($0, handler)) }
        defer { for (sig, old) in previous { signal(sig, old) } }
        return try body()
    }
}
