import Testing
import ComposeModel
@testable import Scheduler

@Suite struct ServiceGraphTests {
    func project(_ deps: [String: [String: ServiceDependency]]) -> Project {
        var p = Project(name: "t", workingDirectory: "/t")
        for (name, d) in deps {
            var s = ServiceConfig(name: name)
            s.image = "x"
            s.dependsOn = d
            p.services[name] = s
        }
        return p
    }

    func started(_ names: String...) -> [String: ServiceDependency] {
        Dictionary(uniqueKeysWithValues: names.map { ($0, ServiceDependency()) })
    }

    @Test func levelsStartDependenciesFirst() throws {
        let g = try ServiceGraph(project([
            "web": started("api", "cache"), "api": started("db"), "db": [:], "cache": [:], "worker": started("db"),
        ]))
        #expect(g.startLevels == [["cache", "db"], ["api", "worker"], ["web"]])
        #expect(g.stopLevels == [["web"], ["api", "worker"], ["cache", "db"]])
    }

    @Test func cyclesAreNamed() {
        #expect {
            _ = try ServiceGraph(project(["a": started("b"), "b": started("c"), "c": started("a")]))
        } throws: { error in
            (error as? ServiceGraph.CycleError)?.cycle == ["a", "b", "c", "a"]
        }
        #expect { _ = try ServiceGraph(project(["a": started("a")])) } throws: {
            ($0 as? ServiceGraph.CycleError)?.description == "dependency cycle detected: a -> a"
        }
    }

    @Test func edgesToServicesThatAreNotEnabledAreDropped() throws {
        var optional = ServiceDependency()
        optional.required = false
        let g = try ServiceGraph(project(["a": ["missing": optional, "b": ServiceDependency(condition: .healthy)], "b": [:]]))
        #expect(g.dependencies["a"]?.map(\.dependency) == ["b"])
        #expect(g.dependencies["a"]?.first?.condition == .healthy)
        #expect(g.startLevels == [["b"], ["a"]])
    }

    @Test func closures() throws {
        let g = try ServiceGraph(project(["web": started("api"), "api": started("db"), "db": [:], "other": [:]]))
        #expect(g.closure(of: ["web"]) == ["web", "api", "db"])
        #expect(g.dependentsClosure(of: ["db"]) == ["api", "web"])
    }
}
