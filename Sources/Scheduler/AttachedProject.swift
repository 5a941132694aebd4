import Engine

/// The decisions of an attached `up`: which containers have exited (each reported once), when the
/// project is done (all exited), when to stop it (`--abort-on-container-exit` on the first exit, or
/// Ctrl-C), and the exit code (`--exit-code-from`'s container's, 130 after Ctrl-C). The CLI streams
/// the logs and prints; this says what happened.
public final class AttachedProject {
    public private(set) var records: [ContainerRecord]
    /// `up --watch`: containers come and go (recreated by a rebuild); following ends only on Ctrl-C.
    public var untilInterrupted = false
    let store: ContainerStore
    let abortOnExit: Bool
    let exitCodeFrom: String?
    var exited: Set<String> = []
    public private(set) var stopping = false

    public init(records: [ContainerRecord], store: ContainerStore, abortOnExit: Bool, exitCodeFrom: String?) {
        self.records = records
        self.store = store
        self.abortOnExit = abortOnExit || exitCodeFrom != nil
        self.exitCodeFrom = exitCodeFrom
    }

    /// A container that joined (a service recreated while watching).
    public func add(_ r: ContainerRecord) {
        if !records.contains(where: { $0.id == r.id }) { records.append(r) }
    }

    /// Looks at the containers once: the ones that exited since the last look (with their codes), and
    /// whether following should end.
    public func check(interrupted: Bool) -> (exits: [(record: ContainerRecord, code: Int32)], done: Bool) {
        if interrupted { return ([], true) }
        var exits: [(ContainerRecord, Int32)] = []
        var allDone = true
        for r in records {
            let state = store.state(r.id)
            // Gone but not yet recorded by its supervisor (which is there to record it): its exit
            // code is not known yet.
            let unrecorded = (state.status == .running || state.status == .paused) && state.supervisorPid > 0
                && Sys.processExists(state.supervisorPid)
            if state.isAlive || state.status == .restarting || state.status == .created || unrecorded {
                allDone = false
            } else if exited.insert(r.id).inserted {
                exits.append((r, state.exitCode))
                if abortOnExit { stopping = true }
            }
        }
        if untilInterrupted { return (exits, false) }
        return (exits, allDone || stopping)
    }

    /// What the command exits with once following ended.
    public func exitCode(interrupted: Bool) -> Int32 {
        if let exitCodeFrom {
            let r = records.first { Orchestrator.serviceName($0) == exitCodeFrom }
            return r.map { store.state($0.id).exitCode } ?? 0
        }
        return interrupted ? 130 : 0
    }
}
