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

    /// `up --wait` for one container: one-shot containers that completed successfully are done, those
    /// that failed fail; with a healthcheck it waits for healthy; running is enough otherwise.
    public static func readiness(_ state: ContainerState, name: String, hasHealthcheck: Bool) -> Gate {
        if !state.isAlive && state.status == .exited {
            return state.exitCode == 0 ? .ready : .failed("container \(name) exited (\(state.exitCode))")
        }
        return hasHealthcheck ? .waiting : .ready
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
