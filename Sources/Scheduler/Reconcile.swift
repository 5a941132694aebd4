import ComposeModel
import Engine

/// `up`'s decisions, made from the model and the recorded state alone — no kernel, no supervisor —
/// so that they can be pinned by unit tests. The Orchestrator carries them out.
public enum Reconcile {
    /// What `up` does with an existing container, and why.
    public enum Decision: Equatable, Sendable {
        case keep
        case recreate(String)
    }

    /// docker compose's rules: recreate when forced, or when the service's configuration hash or its
    /// image changed; keep otherwise (always with `--no-recreate`). The reason names the settings that
    /// changed.
    public static func decide(_ spec: ContainerSpec, service: ServiceConfig, imageID: Digest?,
                              forceRecreate: Bool, noRecreate: Bool) -> Decision {
        if noRecreate { return .keep }
        if forceRecreate { return .recreate("--force-recreate") }
        if spec.labels[ComposeLabels.configHash] != ContainerPlanner.configHash(service) {
            let changed = ContainerPlanner.changedSettings(spec, service)
            return .recreate(changed.isEmpty ? "configuration changed" : "changed: " + changed.joined(separator: ", "))
        }
        if let imageID, spec.labels[ComposeLabels.image] != imageID.description {
            return .recreate("image \(service.image) changed (now \(imageID.short))")
        }
        return .keep
    }

    /// One step of bringing a service to its replica count, by container number.
    public enum Step: Equatable, Sendable {
        case keep(Int)
        case recreate(Int, reason: String)
        case create(Int)
        /// Scaled down: the container numbered so goes.
        case remove(Int)
    }

    /// The steps that take the existing containers (number → what `decide` says about it) to
    /// containers numbered 1…count: missing numbers created, the highest numbers removed.
    public static func steps(existing: [Int: Decision], count: Int) -> [Step] {
        var steps: [Step] = []
        for number in stride(from: 1, through: count, by: 1) {
            switch existing[number] {
            case nil: steps.append(.create(number))
            case .keep: steps.append(.keep(number))
            case .recreate(let reason): steps.append(.recreate(number, reason: reason))
            }
        }
        for number in existing.keys.sorted() where number > count { steps.append(.remove(number)) }
        return steps
    }

    /// Where a wait on a container stands.
    public enum Gate: Equatable, Sendable {
        case ready
        case waiting
        case failed(String)
    }

    /// A dependency gated on `service_healthy`, read from its state: healthy passes; unhealthy, or
    /// exited for good as its supervisor recorded it, fails. A process that died while the record
    /// still says running is not an exit yet: its supervisor is about to record the exit, or a restart
    /// (a dependency that crashes on its first start and is restarted by its policy) — unless that
    /// supervisor is gone.
    public static func health(_ state: ContainerState, name: String, supervisorAlive: Bool = true) -> Gate {
        if state.health?.status == .healthy { return .ready }
        if state.health?.status == .unhealthy { return .failed("dependency failed to start: container \(name) is unhealthy") }
        switch state.status {
        case .exited, .dead:
            return .failed("dependency failed to start: container \(name) exited (\(state.exitCode))")
        case .running, .paused:
            if !state.isAlive && !supervisorAlive {
                return .failed("dependency failed to start: container \(name) exited while its supervisor was not running")
            }
            return .waiting
        default:
            return .waiting
        }
    }

    /// A dependency gated on `service_completed_successfully`, once it has exited with `code`.
    public static func completion(_ code: Int32, dependency: String) -> Gate {
        code == 0 ? .ready : .failed("service \"\(dependency)\" didn't complete successfully: exit \(code)")
    }

    /// How long a container without a healthcheck must have been running for `up --wait` to count it
    /// as up: docker compose looks first 500 ms into its wait, so a process that dies at once fails
    /// the wait there; here the time counts from the container's own start.
    public static let settleTime = 0.5

    /// `up --wait` for one container, as docker compose judges it: an exit fails (even with status 0),
    /// unless another service waits for this one to complete successfully — then only a non-zero
    /// exit fails; with a healthcheck, healthy is up and unhealthy fails; otherwise running, for
    /// `settleTime`, is up.
    public static func readiness(_ state: ContainerState, name: String, service: String, hasHealthcheck: Bool,
                                 expectsCompletion: Bool, runningFor: Double, supervisorAlive: Bool = true) -> Gate {
        let ended = state.status == .exited || state.status == .dead
        if ended {
            if expectsCompletion { return completion(state.exitCode, dependency: service) }
            return .failed("container \(name) exited (\(state.exitCode))")
        }
        if !state.isAlive && (state.status == .running || state.status == .paused) && !supervisorAlive {
            return .failed("container \(name) exited while its supervisor was not running")
        }
        if expectsCompletion { return .waiting }
        if hasHealthcheck {
            if state.health?.status == .healthy { return .ready }
            if state.health?.status == .unhealthy { return .failed("container \(name) is unhealthy") }
            return .waiting
        }
        return state.status == .running && state.isAlive && runningFor >= settleTime ? .ready : .waiting
    }

    /// Whether `up` waits on a dependency at all: one without containers is skipped when it is optional,
    /// or when it is neither selected nor in the project.
    public static func waitsOn(_ edge: ServiceGraph.Edge, hasContainers: Bool, selected: Bool, inProject: Bool) -> Bool {
        if hasContainers { return true }
        if !edge.required { return false }
        return selected || inProject
    }
}

extension ServiceGraph {
    /// `depends_on: {x: {restart: true}}`: the services restarted because a service they depend on so
    /// was recreated (those recreated themselves excluded).
    public func restartedAlong(with recreated: Set<String>) -> Set<String> {
        Set(recreated.flatMap { dep in
            (dependents[dep] ?? []).filter { s in dependencies[s]?.contains { $0.dependency == dep && $0.restart } == true }
        }).subtracting(recreated)
    }
}
