#if canImport(Glibc)
import Glibc
#endif

/// Work that blocks (a build step waiting on its container, a build waiting on another's step) on
/// threads of its own: GCD's pool is as wide as the CPUs, so on a two-core machine a third
/// independent stage would wait for one of the first two to finish.
public enum Threads {
    final class Job {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Starts `body` on a thread of its own, born with every signal blocked (Ctrl-C goes to the
    /// command's own thread, which counts it for the work to see); nil when no thread can be made.
    static func start(stackSize: Int, _ body: @escaping () -> Void) -> pthread_t? {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, stackSize)
        var all = sigset_t()
        sigfillset(&all)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &all, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        let job = Unmanaged.passRetained(Job(body)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, &attributes, { raw in
            Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, job) == 0
        if !created {
            Unmanaged<Job>.fromOpaque(job).release()
            return nil
        }
        return thread
    }

    /// Runs `body(0..<count)` each on a thread of its own (see `start`) and returns when all have.
    /// When no thread can be made, the rest run here, one after the other.
    public static func concurrently(_ count: Int, stackSize: Int = 16 << 20, _ body: @escaping (Int) -> Void) {
        guard count > 1 else {
            if count == 1 { body(0) }
            return
        }
        var threads: [pthread_t] = []
        var inline: [Int] = []
        for n in 0..<count {
            if let thread = start(stackSize: stackSize, { body(n) }) { threads.append(thread) } else { inline.append(n) }
        }
        for n in inline { body(n) }
        for t in threads { pthread_join(t, nil) }
    }
}

/// One thread started now and joined later (work that runs beside the caller's, such as a layer
/// unpacked while its bytes still arrive), started as `Threads.start` starts them.
public final class BackgroundThread {
    var thread: pthread_t?

    /// Starts `body` on a thread of its own; nil when the system cannot make one (the caller decides
    /// what then: work that waits on the caller cannot simply run in its place).
    public init?(stackSize: Int = 8 << 20, _ body: @escaping () -> Void) {
        guard let thread = Threads.start(stackSize: stackSize, body) else { return nil }
        self.thread = thread
    }

    /// Waits for the body to return (once; later calls return at once).
    public func join() {
        guard let thread else { return }
        self.thread = nil
        pthread_join(thread, nil)
    }

    deinit { join() }
}
