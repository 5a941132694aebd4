import Testing
import ComposeModel
import Engine
@testable import Scheduler
#if canImport(Glibc)
import Glibc
#endif

/// `up`'s decisions without containers: recreation and its reasons, the steps to a replica count,
/// the gates on dependencies and `up --wait`, and restarts along `depends_on: restart`.
@Suite struct ReconcileTests {
    func service(_ yaml: String, _ name: String = "s") throws -> ServiceConfig {
        try ProjectLoader.load(yaml: yaml, workingDirectory: "/tmp/reconciletest").project.services[name]!
    }

    /// A container as `up` would have created it for `yaml`'s service.
    static var image: ImageRecord {
        var config = ContainerConfig()
        config.env = ["PATH=/bin"]
        return .synthetic(config: config)
    }

    func created(_ yaml: String, image: ImageRecord = ReconcileTests.image) throws -> ContainerSpec {
        let project = try ProjectLoader.load(yaml: yaml, workingDirectory: "/tmp/reconciletest").project
        let planner = ContainerPlanner(project: project, runtime: Runtime(root: StateRoot(path: "/tmp/reconciletest-state")))
        return try planner.plan(project.services["s"]!, number: 1, image: image)
    }

    let base = "services: {s: {image: x, command: [sleep, '9'], environment: {A: '1'}}}"

    @Test func anUnchangedServiceIsKept() throws {
        let spec = try created(base)
        let image = Self.image
        #expect(Reconcile.decide(spec, service: try service(base), imageID: image.id, forceRecreate: false, noRecreate: false) == .keep)
        #expect(Reconcile.decide(spec, service: try service(base), imageID: nil, forceRecreate: false, noRecreate: false) == .keep,
                "an image that cannot be resolved now does not recreate")
    }

    @Test func aChangedSettingRecreatesAndIsNamed() throws {
        let spec = try created(base)
        let changed = try service("services: {s: {image: x, command: [sleep, '9'], environment: {A: '2'}}}")
        #expect(Reconcile.decide(spec, service: changed, imageID: nil, forceRecreate: false, noRecreate: false) == .recreate("changed: environment"))
        let two = try service("services: {s: {image: x, command: [sleep, '10'], environment: {A: '2'}}}")
        #expect(Reconcile.decide(spec, service: two, imageID: nil, forceRecreate: false, noRecreate: false) == .recreate("changed: command, environment"))
    }

    @Test func aRecordWithoutSettingHashesStillRecreatesOnAChangedHash() throws {
        var spec = try created(base)
        spec.annotations.removeAll()
        let changed = try service("services: {s: {image: x, command: [sleep, '9'], environment: {A: '2'}}}")
        #expect(Reconcile.decide(spec, service: changed, imageID: nil, forceRecreate: false, noRecreate: false) == .recreate("configuration changed"))
    }

    @Test func aNewImageRecreates() throws {
        let spec = try created(base)
        let newer = ImageRecord.synthetic(config: ContainerConfig(), seed: "newer")
        #expect(Reconcile.decide(spec, service: try service(base), imageID: newer.id, forceRecreate: false, noRecreate: false)
                == .recreate("image x changed (now \(newer.id.short))"))
    }

    @Test func forceAndNoRecreateOverrideTheHashes() throws {
        let spec = try created(base)
        let changed = try service("services: {s: {image: x, command: ['true']}}")
        #expect(Reconcile.decide(spec, service: try service(base), imageID: nil, forceRecreate: true, noRecreate: false) == .recreate("--force-recreate"))
        #expect(Reconcile.decide(spec, service: changed, imageID: nil, forceRecreate: false, noRecreate: true) == .keep)
        #expect(Reconcile.decide(spec, service: changed, imageID: nil, forceRecreate: true, noRecreate: true) == .keep, "--no-recreate wins, as docker compose")
    }

    @Test func stepsToAReplicaCount() {
        #expect(Reconcile.steps(existing: [:], count: 2) == [.create(1), .create(2)])
        #expect(Reconcile.steps(existing: [1: .keep, 3: .keep], count: 2) == [.keep(1), .create(2), .remove(3)],
                "a missing number is filled, the highest go")
        #expect(Reconcile.steps(existing: [1: .recreate("changed: image"), 2: .keep], count: 2) == [.recreate(1, reason: "changed: image"), .keep(2)])
        #expect(Reconcile.steps(existing: [1: .keep, 2: .keep, 3: .keep], count: 0) == [.remove(1), .remove(2), .remove(3)], "scale 0 removes all")
        #expect(Reconcile.steps(existing: [:], count: 0) == [])
    }

    func state(_ status: ContainerState.Status, exit: Int32 = 0, health: HealthState.Status? = nil, alive: Bool = false) -> ContainerState {
        var s = ContainerState()
        s.status = status
        s.exitCode = exit
        if let health {
            var h = HealthState()
            h.status = health
            s.health = h
        }
        if alive {
            // A live process of this test stands in for the container's: liveness is read from /proc.
            s.pid = getpid()
            s.pidStartTime = ProcessInfoReader.startTime(of: getpid()) ?? 0
        }
        return s
    }

    @Test func healthGate() {
        #expect(Reconcile.health(state(.running, health: .healthy, alive: true), name: "db") == .ready)
        #expect(Reconcile.health(state(.running, health: .starting, alive: true), name: "db") == .waiting)
        #expect(Reconcile.health(state(.created), name: "db") == .waiting, "not started yet")
        #expect(Reconcile.health(state(.restarting), name: "db") == .waiting, "restarting keeps the wait")
        #expect(Reconcile.health(state(.running, health: .unhealthy, alive: true), name: "db") == .failed("dependency failed to start: container db is unhealthy"))
        #expect(Reconcile.health(state(.exited, exit: 3, health: .starting), name: "db") == .failed("dependency failed to start: container db exited (3)"))
        // A recorded running state whose process is gone is the moment before its supervisor records
        // the exit (or a restart); only with the supervisor gone too is it final.
        #expect(Reconcile.health(state(.running, health: .starting), name: "db") == .waiting)
        #expect(Reconcile.health(state(.running, health: .starting), name: "db", supervisorAlive: false)
                == .failed("dependency failed to start: container db exited while its supervisor was not running"))
    }

    @Test func completionGate() {
        #expect(Reconcile.completion(0, dependency: "migrate") == .ready)
        #expect(Reconcile.completion(2, dependency: "migrate") == .failed("service \"migrate\" didn't complete successfully: exit 2"))
    }

    @Test func upWaitReadiness() {
        func gate(_ s: ContainerState, health: Bool = false, completes: Bool = false, running: Double = 1) -> Reconcile.Gate {
            Reconcile.readiness(s, name: "p-web-1", service: "web", hasHealthcheck: health, expectsCompletion: completes, runningFor: running)
        }
        #expect(gate(state(.running, alive: true)) == .ready)
        #expect(gate(state(.running, alive: true), running: 0.2) == .waiting, "not yet running for the settle time")
        #expect(gate(state(.running, alive: true), health: true) == .waiting)
        // As docker compose: any exit fails the wait, unless another service waits for it to complete.
        #expect(gate(state(.exited, exit: 0)) == .failed("container p-web-1 exited (0)"))
        #expect(gate(state(.exited, exit: 1)) == .failed("container p-web-1 exited (1)"))
        #expect(gate(state(.exited, exit: 0), completes: true) == .ready)
        #expect(gate(state(.exited, exit: 2), completes: true) == .failed("service \"web\" didn't complete successfully: exit 2"))
        #expect(gate(state(.running, alive: true), completes: true) == .waiting)
    }

    @Test func whichDependenciesAreWaitedOn() throws {
        let edge = ServiceGraph.Edge(service: "a", dependency: "b", condition: .healthy, required: true, restart: false)
        var optional = edge
        optional.required = false
        #expect(Reconcile.waitsOn(edge, hasContainers: true, selected: false, inProject: true))
        #expect(Reconcile.waitsOn(optional, hasContainers: true, selected: false, inProject: true), "an optional dependency that exists is waited on")
        #expect(!Reconcile.waitsOn(optional, hasContainers: false, selected: true, inProject: true))
        #expect(Reconcile.waitsOn(edge, hasContainers: false, selected: true, inProject: true), "a required dependency without containers fails the wait")
        #expect(!Reconcile.waitsOn(edge, hasContainers: false, selected: false, inProject: false))
    }

    @Test func restartsAlongRecreatedDependencies() throws {
        let project = try ProjectLoader.load(yaml: """
            services:
              db: {image: x}
              api: {image: x, depends_on: {db: {condition: service_started, restart: true}}}
              worker: {image: x, depends_on: [db]}
              web: {image: x, depends_on: {api: {condition: service_started, restart: true}}}
            """, workingDirectory: "/tmp/reconciletest").project
        let graph = try ServiceGraph(project)
        #expect(graph.restartedAlong(with: ["db"]) == ["api"], "worker depends on db without restart: true")
        #expect(graph.restartedAlong(with: ["db", "api"]) == ["web"], "recreated services are not restarted again")
        #expect(graph.restartedAlong(with: ["web"]) == [])
    }
}

@Suite struct RestartGateTests {
    func state(_ status: ContainerState.Status, exitCode: Int32 = 0, health: HealthState.Status? = nil) -> ContainerState {
        var s = ContainerState()
        s.status = status
        s.exitCode = exitCode
        // A pid that is not alive: what the record says for the moments after the process died.
        s.pid = Int32.max - 1
        if let health { var h = HealthState(); h.status = health; s.health = h }
        return s
    }

    @Test func aProcessThatDiedBeforeItsSupervisorRecordedItIsNotAnExitYet() {
        #expect(Reconcile.health(state(.running), name: "db") == .waiting)
        #expect(Reconcile.health(state(.restarting, exitCode: 1), name: "db") == .waiting)
        #expect(Reconcile.health(state(.exited, exitCode: 1), name: "db") == .failed("dependency failed to start: container db exited (1)"))
        #expect(Reconcile.health(state(.running), name: "db", supervisorAlive: false)
                == .failed("dependency failed to start: container db exited while its supervisor was not running"))
        #expect(Reconcile.health(state(.running, health: .healthy), name: "db") == .ready)
        #expect(Reconcile.health(state(.restarting, health: .unhealthy), name: "db") == .failed("dependency failed to start: container db is unhealthy"))
    }
}
