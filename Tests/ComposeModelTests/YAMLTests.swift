import Testing
@testable import ComposeModel

@Suite struct YAMLParserTests {
    func parse(_ text: String) throws -> Node {
        try #require(try YAMLParser.parse(text, file: "/p/compose.yaml").first)
    }

    @Test func scalarsResolveAsGoYAMLv3() throws {
        let node = try parse("""
        a: 1_000
        b: 0x1F
        c: 017
        d: 0o17
        e: yes
        f: ~
        g: .5
        h: 1e3
        i: "017"
        j: True
        k: 08
        l: 2001-12-14
        m:
        n: -0b101
        """)
        func kind(_ key: String) -> String { "\(node[key]!.kind)" }
        #expect(node["a"]?.intValue == 1000)
        #expect(node["b"]?.intValue == 31)
        #expect(node["c"]?.intValue == 15)
        #expect(node["d"]?.intValue == 15)
        #expect(node["e"]?.stringValue == "yes")
        #expect(node["f"]?.isNull == true)
        #expect(kind("g") == "float(0.5)")
        #expect(kind("h") == "float(1000.0)")
        #expect(node["i"]?.stringValue == "017")
        #expect(node["j"]?.boolValue == true)
        #expect(kind("k") == "float(8.0)")
        #expect(kind("l") == "timestamp(\"2001-12-14\")")
        #expect(node["m"]?.isNull == true)
        #expect(node["n"]?.intValue == -5)
    }

    @Test func locationsAreOneBased() throws {
        let node = try parse("services:\n  web:\n    image: busybox\n")
        let web = try #require(node["services"]?["web"])
        let image = try #require(web.entry("image"))
        #expect(image.keyLocation == SourceLocation(file: "/p/compose.yaml", line: 3, column: 5))
        #expect(image.value.location == SourceLocation(file: "/p/compose.yaml", line: 3, column: 12))
    }

    @Test func mergeKeysSingleAndList() throws {
        let node = try parse("""
        x: &a {p: 1, q: 1}
        y: &b {q: 2, r: 2}
        one:
          <<: *a
          p: 9
        two:
          <<: [*a, *b]
        """)
        #expect(node["one"]?["p"]?.intValue == 9)
        #expect(node["one"]?["q"]?.intValue == 1)
        #expect(node["two"]?["q"]?.intValue == 1)
        #expect(node["two"]?["r"]?.intValue == 2)
    }

    @Test func duplicateKeysNameBothLines() throws {
        #expect {
            _ = try parse("a: 1\nb: 2\na: 3\n")
        } throws: { error in
            guard let e = error as? ComposeError, let d = e.diagnostics.first else { return false }
            return d.message == "duplicate key 'a'" && d.location?.line == 3 && d.notes.first?.location?.line == 1
        }
    }

    @Test func syntaxErrorHasLocation() throws {
        #expect {
            _ = try parse("services:\n  web:\n    image: busybox\n     ports: [\"80\"]\n")
        } throws: { error in
            guard let e = error as? ComposeError, let d = e.diagnostics.first else { return false }
            return d.location?.line == 4 && d.message.contains("mapping values are not allowed")
        }
    }

    @Test func mergeTagsAreKept() throws {
        let node = try parse("a: !reset []\nb: !override {x: 1}\n")
        #expect(node["a"]?.mergeTag == .reset)
        #expect(node["b"]?.mergeTag == .override)
    }

    @Test func multipleDocuments() throws {
        let docs = try YAMLParser.parse("a: 1\n---\nb: 2\n", file: "f")
        #expect(docs.count == 2)
    }
}

@Suite struct GoFormatTests {
    @Test func floatsPrintLikeGoPercentV() {
        #expect(GoFormat.float(1e20) == "1e+20")
        #expect(GoFormat.float(1.2345678901234569e+23) == "1.2345678901234569e+23")
        #expect(GoFormat.float(0.5) == "0.5")
        #expect(GoFormat.float(1.0) == "1")
        #expect(GoFormat.float(1000) == "1000")
        #expect(GoFormat.float(100000) == "100000")
        #expect(GoFormat.float(1000000) == "1e+06")
        #expect(GoFormat.float(0.0001) == "0.0001")
        #expect(GoFormat.float(0.00001) == "1e-05")
        #expect(GoFormat.float(3.14159265358979) == "3.14159265358979")
        #expect(GoFormat.float(.infinity) == "+Inf")
    }

    @Test func jsonFloats() {
        #expect(GoFormat.jsonFloat(1.5) == "1.5")
        #expect(GoFormat.jsonFloat(1e20) == "100000000000000000000")
        #expect(GoFormat.jsonFloat(1e21) == "1e+21")
        #expect(GoFormat.jsonFloat(1e-7) == "1e-7")
    }
}
