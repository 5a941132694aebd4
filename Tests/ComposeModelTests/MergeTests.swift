import Testing
@testable import ComposeModel

@Suite struct MergeTests {
    func merged(_ base: String, _ override: String) throws -> Node {
        let a = try YAMLParser.parse(base, file: "a")[0]
        let b = try YAMLParser.parse(override, file: "b")[0]
        var m = Merger.merge(Merger.merge(.mapping([], at: a.location), a, path: []), b, path: [])
        Unicity.enforce(&m)
        return m
    }

    @Test func sequencesAppendAndMappingsMerge() throws {
        let m = try merged("services: {s: {cap_add: [A], image: x}}", "services: {s: {cap_add: [B], image: y}}")
        #expect(m["services"]?["s"]?["cap_add"]?.items?.map(\.text) == ["A", "B"])
        #expect(m["services"]?["s"]?["image"]?.text == "y")
    }

    @Test func commandsAreReplaced() throws {
        let m = try merged("services: {s: {command: [a, b], healthcheck: {test: [CMD, a], interval: 1s}}}",
                           "services: {s: {command: [c], healthcheck: {test: [CMD, b]}}}")
        #expect(m["services"]?["s"]?["command"]?.items?.map(\.text) == ["c"])
        #expect(m["services"]?["s"]?["healthcheck"]?["test"]?.items?.map(\.text) == ["CMD", "b"])
        #expect(m["services"]?["s"]?["healthcheck"]?["interval"]?.text == "1s")
    }

    @Test func environmentIsUniqueByName() throws {
        let m = try merged("services: {s: {environment: {A: base, B: base}}}", "services: {s: {environment: [B=over, C=new]}}")
        #expect(m["services"]?["s"]?["environment"]?.items?.map(\.text) == ["A=base", "B=over", "C=new"])
    }

    @Test func volumesAreUniqueByTarget() throws {
        let m = try merged("services: {s: {volumes: ['./a:/data', './b:/b']}}", "services: {s: {volumes: ['./c:/data']}}")
        #expect(m["services"]?["s"]?["volumes"]?.items?.map(\.text) == ["./c:/data", "./b:/b"])
    }

    @Test func resetAndOverrideTags() throws {
        let m = try merged("services: {s: {ports: ['1:1'], environment: {A: '1'}, image: x}}",
                           "services: {s: {ports: !reset [], environment: !override {B: '2'}}}")
        #expect(m["services"]?["s"]?["ports"] == nil)
        #expect(m["services"]?["s"]?["environment"]?.keys == ["B"])
        #expect(m["services"]?["s"]?["image"]?.text == "x")
    }

    @Test func dependsOnAndNetworksMergeAsMappings() throws {
        let m = try merged("services: {s: {depends_on: [a], networks: [n1]}}",
                           "services: {s: {depends_on: {b: {condition: service_healthy}}, networks: {n2: {aliases: [x]}}}}")
        #expect(m["services"]?["s"]?["depends_on"]?.keys == ["a", "b"])
        #expect(m["services"]?["s"]?["networks"]?.keys == ["n1", "n2"])
    }

    @Test func loggingOptionsMergeOnlyForTheSameDriver() throws {
        let same = try merged("services: {s: {logging: {driver: syslog, options: {a: '1'}}}}", "services: {s: {logging: {options: {b: '2'}}}}")
        #expect(same["services"]?["s"]?["logging"]?["options"]?.keys == ["a", "b"])
        let other = try merged("services: {s: {logging: {driver: syslog, options: {a: '1'}}}}", "services: {s: {logging: {driver: local}}}")
        #expect(other["services"]?["s"]?["logging"]?["options"] == nil)
    }
}
