#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Engine

/// `run`: a one-off container after the service's dependencies.
extension Orchestrator {
    public struct RunOptions: Sendable {
        public var service: String
        public var overrides = ContainerPlanner.Overrides()
        public var noDeps = false

        public init(service: String) { self.service = service }
    }

    /// Brings up the service's dependencies (honouring their `depends_on` conditions, unlike docker
    /// compose) and creates the one-off container; the caller starts and attaches to it.
    public func prepareRun(_ options: RunOptions) throws(SwcomposeError) -> ContainerRecord {
        try checkServices([options.service])
        try checkOwnership()
        try checkPlans(services: [options.service])
        if !options.noDeps {
            let deps = graph.closure(of: [options.service]).subtracting([options.service])
            if !deps.isEmpty {
                var up = UpOptions()
                up.services = deps.sorted()
                try self.up(up)
            }
            try waitForDependencies(of: options.service, selected: Set(project.services.keys))
        }
        // As `up` would: the networks the service joins (its volumes come with the container), so that
        // `run` works in a checkout that was never brought up.
        try createNetworks(for: [options.service])
        // Read after the dependencies came up: a provider among them gave it variables.
        let service = project.services[options.service]!
        let image = try self.image(for: service)
        var overrides = options.overrides
        let slug = String(ContainerStore.newID().prefix(12))
        if overrides.name == nil { overrides.name = "\(project.name)-\(service.name)-run-\(slug)" }
        overrides.labels[ComposeLabels.slug] = slug
        return try create(service, number: 1, image: image, overrides: overrides)
    }
}
