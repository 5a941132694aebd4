import Testing
import ComposeModel
@testable import Scheduler

/// The support table covers the compose specification exactly: every key the embedded schema allows
/// is honoured, inert for a reason, or refused with a reason, so that no key can be parsed and then
/// silently dropped — including keys a later schema adds.
@Suite struct SupportTableTests {
    @Test func everyKeyOfTheSchemaIsInTheTable() {
        let paths = SchemaValidator.compose.keyPaths
        #expect(paths.count > 300, "the schema walk found only \(paths.count) keys")
        let missing = paths.filter { ComposeSupport.table[$0] == nil }
        #expect(missing.isEmpty, "keys of the compose specification missing from ComposeSupport.table: \(missing.joined(separator: ", "))")
        let stale = Set(ComposeSupport.table.keys).subtracting(paths).sorted()
        #expect(stale.isEmpty, "ComposeSupport.table names keys the schema does not have: \(stale.joined(separator: ", "))")
    }

    @Test func everyInertOrRefusedKeySaysWhy() {
        for (path, support) in ComposeSupport.table where support.status != .honoured {
            #expect(support.reason.count > 20, "\(path) is \(support.status) without a reason")
        }
        for (path, support) in ComposeSupport.table where support.check != nil {
            #expect(!support.reason.isEmpty, "\(path) is honoured for some values without saying which")
        }
    }

    @Test func theSchemaWalkFindsNestedKeysUserNamedMapsAndListItems() {
        let paths = Set(SchemaValidator.compose.keyPaths)
        for p in ["services.*.build.cache_to", "services.*.volumes.bind.propagation", "services.*.depends_on.*.condition",
                  "services.*.ulimits.*.soft", "services.*.deploy.resources.reservations.devices.capabilities",
                  "networks.*.ipam.config.aux_addresses", "secrets.*.template_driver", "include.project_directory", "version"] {
            #expect(paths.contains(p), "\(p)")
        }
        // Data, not keys: labels, options, environment, extensions.
        for p in ["services.*.labels.*", "services.*.logging.options.*", "networks.*.driver_opts.*", "services.*.x-foo"] {
            #expect(!paths.contains(p), "\(p)")
        }
    }

    func refusals(_ yaml: String) throws -> [Diagnostic] {
        let loaded = try ProjectLoader.load(yaml: yaml, workingDirectory: "/tmp/supporttest")
        return ComposeSupport.refusals(loaded)
    }

    @Test func refusedKeysAreReportedAtTheirLocationOnceEach() throws {
        let found = try refusals("""
        services:
          web:
            image: x
            use_api_socket: true
            cpu_rt_runtime: 100
            cpu_count: 2
            deploy: {placement: {constraints: [node.role==manager]}}
        """)
        #expect(found.map(\.message) == [
            "services.web.use_api_socket is not supported: use_api_socket mounts the Docker engine's socket; swcompose has no daemon and no API socket to give a container",
            "services.web.cpu_rt_runtime is not supported: real-time CPU budgets need the kernel's RT group scheduling, which swcompose does not set up: remove cpu_rt_period and cpu_rt_runtime",
        ])
        #expect(found.map { $0.location?.line } == [4, 5])
        #expect(found.map { $0.location?.column } == [5, 5])
    }

    @Test func valuesAKeyDoesNotHonourAreRefusedAtTheValue() throws {
        let found = try refusals("""
        services:
          web: {image: x, runtime: nvidia, isolation: hyperv}
          ok: {image: x, runtime: runc, isolation: default, volumes: [data:/data]}
        volumes:
          data: {driver: rexray}
        """)
        try #require(found.count == 3)
        #expect(found[0].message.hasPrefix("services.web.runtime: runtime nvidia is not available"))
        #expect(found[0].location?.column == 28)
        #expect(found[1].message.hasPrefix("services.web.isolation: isolation hyperv"))
        #expect(found[2].message.hasPrefix("volumes.data.driver: volume driver rexray is not available"))
    }

    @Test func servicesDisabledByProfilesAreNotChecked() throws {
        #expect(try refusals("""
        services:
          web: {image: x}
          gpu: {image: x, runtime: nvidia, profiles: [gpu]}
        """).isEmpty)
    }
}
