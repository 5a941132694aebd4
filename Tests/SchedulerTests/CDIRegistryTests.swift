import Foundation
import Testing
import ComposeModel
import TestSupport
@testable import Scheduler

/// The CDI spec reader: qualified names as the CDI parser reads them, specs in YAML and JSON, what a
/// spec is refused for, and which definition wins across the spec directories.
@Suite struct CDIRegistryTests {
    @Test func qualifiedNamesFollowTheCdiParser() {
        #expect(CDIRegistry.isQualifiedName("nvidia.com/gpu=all"))
        #expect(CDIRegistry.isQualifiedName("vendor.example/class-1=dev:0.a"))
        #expect(CDIRegistry.isQualifiedName("nvidia.com/gpu=GPU-955ef018-3bd9"))
        #expect(!CDIRegistry.isQualifiedName("/dev/null"))
        #expect(!CDIRegistry.isQualifiedName("nvidia.com/gpu"))
        #expect(!CDIRegistry.isQualifiedName("1vendor.com/gpu=0"))
        #expect(!CDIRegistry.isQualifiedName("nvidia.com/gpu.x=0"))
        #expect(!CDIRegistry.isQualifiedName("nvidia.com/gpu=-0"))
        #expect(!CDIRegistry.isQualifiedName("nvidia.com/gpu/x=0"))
    }

    @Test func specsAreReadWithEveryKindOfEdit() throws {
        let spec = try CDIRegistry.parse("""
            cdiVersion: 0.6.0
            kind: example.com/thing
            containerEdits:
              env: [A=1]
              additionalGids: [44]
            devices:
              - name: t0
                containerEdits:
                  deviceNodes: [{path: /dev/thing0, hostPath: /dev/null, type: c, major: 1, minor: 3, fileMode: 0600, uid: 5}]
                  mounts: [{hostPath: /usr/lib/x.so, containerPath: /usr/lib/x.so, options: [ro, nosuid, bind]}]
                  hooks: [{hookName: createContainer, path: /usr/bin/hook, args: [hook, update], env: [X=1], timeout: 5}]
            """, file: "/etc/cdi/thing.yaml")
        #expect(spec.kind == "example.com/thing")
        #expect(spec.edits.env == ["A=1"] && spec.edits.additionalGIDs == [44])
        let edits = try #require(spec.devices.first).edits
        #expect(edits.deviceNodes == [.init(path: "/dev/thing0", hostPath: "/dev/null", type: "c", major: 1, minor: 3, fileMode: 0o600,
                                            permissions: "", uid: 5, gid: nil)])
        #expect(edits.mounts == [.init(hostPath: "/usr/lib/x.so", containerPath: "/usr/lib/x.so", options: ["ro", "nosuid", "bind"], type: "")])
        #expect(edits.hooks.first?.name == "createContainer")
        #expect(edits.hooks.first?.hook == .init(path: "/usr/bin/hook", args: ["hook", "update"], env: ["X=1"], timeout: 5))

        let json = try CDIRegistry.parse(#"{"cdiVersion":"0.5.0","kind":"nvidia.com/gpu","devices":[{"name":"0","containerEdits":{"env":["G=0"]}}]}"#,
                                         file: "/etc/cdi/nvidia.json")
        #expect(json.devices.map(\.name) == ["0"])
    }

    @Test func brokenSpecsAreRefusedWithTheReason() {
        func reason(_ text: String) -> String {
            do { _ = try CDIRegistry.parse(text, file: "/etc/cdi/x.yaml"); return "accepted" } catch { return "\(error)" }
        }
        #expect(reason("kind: a.com/b\ndevices: [{name: x}]") == "cdiVersion is missing")
        #expect(reason("cdiVersion: 0.6.0\nkind: gpu\ndevices: [{name: x}]") == "kind \"gpu\" is not vendor.com/class")
        #expect(reason("cdiVersion: 0.6.0\nkind: a.com/b\ndevices: []") == "it defines no devices")
        #expect(reason("cdiVersion: 0.6.0\nkind: a.com/b\ndevices: [{name: x}, {name: x}]") == "device x is defined twice")
        #expect(reason("cdiVersion: 0.6.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {hooks: [{hookName: later, path: /x}]}}]")
            == "devices[0].containerEdits.hooks[0]: unknown hookName \"later\"")
        #expect(reason("cdiVersion: 0.6.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {intelRdt: {closID: c}}}]")
            .contains("Intel RDT classes are not supported"))
    }

    @Test func theLaterDirectoryWinsAndTwoDefinitionsInOneConflict() throws {
        let dir = TemporaryDirectory("cdi-registry")
        let etc = dir.sub("etc"), run = dir.sub("run")
        for d in [etc, run] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        func spec(_ env: String, names: [String]) -> String {
            "cdiVersion: 0.6.0\nkind: a.com/b\ndevices:\n" + names.map { "  - {name: \($0), containerEdits: {env: [\(env)]}}\n" }.joined()
        }
        try spec("FROM=etc", names: ["x", "y"]).write(toFile: etc + "/b.yaml", atomically: true, encoding: .utf8)
        try spec("FROM=run", names: ["x"]).write(toFile: run + "/b.yaml", atomically: true, encoding: .utf8)
        try "not: [a spec".write(toFile: run + "/broken.json", atomically: true, encoding: .utf8)
        var registry = CDIRegistry.load(directories: [etc, run])
        #expect(try registry.resolve("a.com/b=x")?.device.edits.env == ["FROM=run"])
        #expect(try registry.resolve("a.com/b=y")?.device.edits.env == ["FROM=etc"])
        #expect(try registry.resolve("a.com/b=z") == nil)
        #expect(registry.deviceNames(kind: "a.com/b") == ["x", "y"])
        #expect(registry.errors.map(\.file) == [run + "/broken.json"])
        try spec("FROM=etc2", names: ["y"]).write(toFile: etc + "/c.yaml", atomically: true, encoding: .utf8)
        registry = CDIRegistry.load(directories: [etc, run])
        #expect(throws: CDIRegistry.CDIError.self) { try registry.resolve("a.com/b=y") }
    }
}
