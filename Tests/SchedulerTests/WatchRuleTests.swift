import Testing
import ComposeModel
import Engine
@testable import Scheduler

/// Which changed paths a `develop.watch` rule cares about, and where they go in the container.
@Suite struct WatchRuleTests {
    func rules(_ watch: String) throws -> [WatchRule] {
        let project = try ProjectLoader.load(yaml: """
            services:
              web:
                image: busybox
                develop:
                  watch:
            \(watch)
            """, workingDirectory: "/work/p").project
        return WatchRule.rules(project, services: ["web"])
    }

    @Test func pathsUnderTheRuleIgnoredAndIncluded() throws {
        let rule = try #require(try rules("""
                    - action: sync
                      path: ./src
                      target: /app
                      ignore: ["*.log", "tmp/", "deep/**/x"]
            """).first)
        #expect(rule.path == "/work/p/src")
        #expect(rule.relative("/work/p/src") == "")
        #expect(rule.relative("/work/p/src/a/b.txt") == "a/b.txt")
        #expect(rule.relative("/work/p/srcfile") == nil, "a sibling sharing the prefix is not under the path")
        #expect(rule.relative("/work/p/src/debug.log") == nil)
        #expect(rule.relative("/work/p/src/a/debug.log") == "a/debug.log", "`*.log` matches at the top only, as docker's pattern matcher (and compose) reads it")
        #expect(rule.relative("/work/p/src/a/b/tmp") == "a/b/tmp")
        #expect(rule.relative("/work/p/src/tmp/cache/x") == nil, "under an ignored directory")
        #expect(rule.relative("/work/p/src/deep/1/2/x") == nil)
        #expect(rule.relative("/work/p/src/.a.txt.swp") == nil && rule.relative("/work/p/src/a.txt~") == nil && rule.relative("/work/p/src/4913") == nil)
        #expect(rule.destination("a/b.txt") == "/app/a/b.txt" && rule.destination("") == "/app")
    }

    @Test func includeNarrowsTheRule() throws {
        let rule = try #require(try rules("""
                    - action: sync
                      path: .
                      target: /app/
                      include: ["*.py"]
            """).first)
        #expect(rule.relative("/work/p/main.py") == "main.py")
        #expect(rule.relative("/work/p/README.md") == nil)
        #expect(rule.destination("main.py") == "/app/main.py")
    }
}
