import ComposeModel

/// The dependency graph of a project's enabled services: who waits for whom, in which levels they
/// can start in parallel, and the reverse order for stopping.
public struct ServiceGraph: Sendable {
    public struct Edge: Sendable, Equatable {
        public var service: String
        public var dependency: String
        public var condition: ServiceDependency.Condition
        public var required: Bool
        public var restart: Bool
    }

    public struct CycleError: Error, Sendable, CustomStringConvertible {
        /// The services of the cycle, first one repeated at the end: a -> b -> c -> a.
        public var cycle: [String]
        /// The `depends_on` entry that closes the cycle.
        public var location: SourceLocation?

        public var description: String { "dependency cycle detected: " + cycle.joined(separator: " -> ") }
        public var diagnostic: Diagnostic { .error(description, at: location) }
    }

    public let services: [String]
    /// Service → the edges to the services it depends on.
    public let dependencies: [String: [Edge]]
    /// Service → the services that depend on it.
    public let dependents: [String: [String]]

    /// Builds the graph of the enabled services. Dependencies on services that are not enabled are
    /// dropped (a required one is refused by the loader before this point).
    public init(_ project: Project) throws(CycleError) {
        services = project.services.keys.sorted()
        var dependencies: [String: [Edge]] = [:]
        var dependents: [String: [String]] = [:]
        var locations: [String: [String: SourceLocation]] = [:]
        for name in services {
            let service = project.services[name]!
            var edges: [Edge] = []
            for dep in service.dependsOn.keys.sorted() where project.services[dep] != nil {
                let d = service.dependsOn[dep]!
                edges.append(Edge(service: name, dependency: dep, condition: d.condition, required: d.required, restart: d.restart))
                dependents[dep, default: []].append(name)
                locations[name, default: [:]][dep] = d.location ?? service.location
            }
            // Implicit dependencies, as compose-go's GetDependencies: network_mode service:X,
            // volumes_from X and links.
            var implicit: [String] = []
            if service.networkMode.hasPrefix("service:") { implicit.append(String(service.networkMode.dropFirst(8))) }
            for v in service.volumesFrom where !v.hasPrefix("container:") {
                implicit.append(String(v.split(separator: ":").first ?? ""))
            }
            for l in service.links { implicit.append(String(l.split(separator: ":").first ?? "")) }
            for dep in implicit where project.services[dep] != nil && !edges.contains(where: { $0.dependency == dep }) {
                edges.append(Edge(service: name, dependency: dep, condition: .started, required: true, restart: false))
                dependents[dep, default: []].append(name)
                locations[name, default: [:]][dep] = service.locations["network_mode"] ?? service.location
            }
            dependencies[name] = edges
        }
        self.dependencies = dependencies
        self.dependents = dependents
        if let cycle = Self.findCycle(services, dependencies) {
            let closing = cycle.count >= 2 ? locations[cycle[cycle.count - 2]]?[cycle[cycle.count - 1]] : nil
            throw CycleError(cycle: cycle, location: closing)
        }
    }

    static func findCycle(_ services: [String], _ dependencies: [String: [Edge]]) -> [String]? {
        enum Mark { case visiting, done }
        var marks: [String: Mark] = [:]
        var stack: [String] = []
        func visit(_ s: String) -> [String]? {
            if marks[s] == .done { return nil }
            if marks[s] == .visiting {
                let start = stack.firstIndex(of: s)!
                return Array(stack[start...]) + [s]
            }
            marks[s] = .visiting
            stack.append(s)
            for edge in dependencies[s] ?? [] {
                if let cycle = visit(edge.dependency) { return cycle }
            }
            stack.removeLast()
            marks[s] = .done
            return nil
        }
        for s in services {
            if let cycle = visit(s) { return cycle }
        }
        return nil
    }

    /// Services grouped by start order: each level depends only on earlier levels, and the services of
    /// one level can start in parallel.
    public var startLevels: [[String]] {
        var level: [String: Int] = [:]
        func depth(_ s: String) -> Int {
            if let l = level[s] { return l }
            let d = (dependencies[s] ?? []).map { depth($0.dependency) + 1 }.max() ?? 0
            level[s] = d
            return d
        }
        var levels: [[String]] = []
        for s in services {
            let d = depth(s)
            while levels.count <= d { levels.append([]) }
            levels[d].append(s)
        }
        return levels
    }

    /// The reverse of `startLevels`: dependents stop before what they depend on.
    public var stopLevels: [[String]] { startLevels.reversed() }

    /// `service` and everything it depends on, transitively.
    public func closure(of names: [String]) -> Set<String> {
        var seen: Set<String> = []
        var pending = names
        while let s = pending.popLast() {
            guard seen.insert(s).inserted else { continue }
            pending.append(contentsOf: (dependencies[s] ?? []).map(\.dependency))
        }
        return seen
    }

    /// The services that depend on `names`, transitively (excluding `names`).
    public func dependentsClosure(of names: [String]) -> Set<String> {
        var seen: Set<String> = []
        var pending = names.flatMap { dependents[$0] ?? [] }
        while let s = pending.popLast() {
            guard seen.insert(s).inserted else { continue }
            pending.append(contentsOf: dependents[s] ?? [])
        }
        return seen
    }
}
