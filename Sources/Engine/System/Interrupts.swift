#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Ctrl-C while attached: the first stops the project gracefully, the second kills it. The handler
/// only increments a lock-free atomic (async-signal-safe); the command reads it between polls.
public enum Interrupts {
    static let received = Atomic<Int32>(0)

    public static var count: Int32 { received.load(ordering: .acquiring) }

    public static func install() {
        signal(SIGINT) { _ in Interrupts.received.wrappingAdd(1, ordering: .releasing) }
        signal(SIGTERM) { _ in Interrupts.received.wrappingAdd(1, ordering: .releasing) }
    }
}
