#if canImport(Glibc)
import Glibc
#endif

/// Work that blocks (a build step waiting on its container, a build waiting on another's step) on
/// threads of its own: GCD's pool is as wide as the CPUs, so on a two-core machine a third
/// independent stage would wait for one of the first two to finish.
public enum Threads {
    final class Job {
        let body: (Int) -> Void
        let index: Int
        init(_ body: @escaping (Int) -> Void, _ index: Int) { self.body = body; self.index = index }
    }

    /// Runs `body(0..<count)` each on a thread of its own and returns when all have. The threads
    /// start with every signal blocked: Ctrl-C goes to the command's own thread (which counts it for
    /// the work to see). When no thread can be made, the rest run here, one after the other.
    public static func concurrently(_ count: Int, stackSize: Int = 16 << 20, _ body: @escaping (Int) -> Void) {
        guard count > 1 else {
            if count == 1 { body(0) }
            return
        }
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, stackSize)
        var all = sigset_t()
        sigfillset(&all)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &all, &previous)
        var threads: [pthread_t] = []
        var inline: [Int] = []
        for n in 0..<count {
            let job = Unmanaged.passRetained(Job(body, n)).toOpaque()
            var thread = pthread_t()
            let created = pthread_create(&thread, &attributes, { raw in
                let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
                job.body(job.index)
                return nil
            }, job) == 0
            if created {
                threads.append(thread)
            } else {
                Unmanaged<Job>.fromOpaque(job).release()
                inline.append(n)
            }
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        for n in inline { body(n) }
        for t in threads { pthread_join(t, nil) }
    }
}

/// One thread started now and joined later (work that runs beside the caller's, such as a layer
/// unpacked while its bytes still arrive). Started with every signal blocked, as `Threads`' are.
public final class BackgroundThread {
    var thread = pthread_t()
    let started: Bool
    var joined = false

    /// Starts `body` on a thread of its own; when no thread can be made it runs here, now.
    public init(stackSize: Int = 8 << 20, _ body: @escaping () -> Void) {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, stackSize)
        var all = sigset_t()
        sigfillset(&all)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &all, &previous)
        let job = Unmanaged.passRetained(Threads.Job({ _ in body() }, 0)).toOpaque()
        started = pthread_create(&thread, &attributes, { raw in
            let job = Unmanaged<Threads.Job>.fromOpaque(raw!).takeRetainedValue()
            job.body(job.index)
            return nil
        }, job) == 0
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        if !started {
            Unmanaged<Threads.Job>.fromOpaque(job).release()
            body()
        }
    }

    /// Waits for the body to return (once; later calls return at once).
    public func join() {
        guard started, !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }

    deinit { join() }
}
