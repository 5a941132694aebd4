import Testing
@testable import ComposeModel

@Suite struct SchemaValidatorTests {
    func problems(_ yaml: String) throws -> [String] {
        let node = try YAMLParser.parse(yaml, file: "/p/compose.yaml")[0]
        return SchemaValidator.compose.validate(node).map { "\($0.location.line):\($0.location.column) \($0.message)" }
    }

    @Test func validProjectsHaveNoProblems() throws {
        #expect(try problems("services:\n  web:\n    image: x\n    ports: ['80:80']\n    x-custom: 1\nx-top: {}\n").isEmpty)
    }

    @Test func unknownKeysSuggestTheNearestOne() throws {
        #expect(try problems("services:\n  web:\n    image: x\n    portz: [80]\n") == ["4:5 services.web: unknown key 'portz' (did you mean 'ports'?)"])
        #expect(try problems("service: {}\n") == ["1:1 unknown top-level key 'service' (did you mean 'services'?)"])
        #expect(try problems("services:\n  a:\n    image: x\n    healthcheck: {tset: [CMD, x]}\n")
            == ["4:19 services.a.healthcheck: unknown key 'tset' (did you mean 'test'?)"])
    }

    @Test func typeMismatchesSayWhatIsExpected() throws {
        #expect(try problems("services:\n  a:\n    image: [x]\n") == ["3:12 services.a.image must be a string, not a list"])
        #expect(try problems("services:\n  a:\n    image: x\n    ports: 80\n") == ["4:12 services.a.ports must be a list, not a number (80)"])
        #expect(try problems("services:\n  a:\n    image: x\n    labels: {d: 2024-01-02}\n")
            == ["4:17 services.a.labels.d must be a string, a number, a boolean or null, but YAML reads 2024-01-02 as a date (quote it: \"2024-01-02\")"])
    }

    @Test func enumsAndNames() throws {
        #expect(try problems("services:\n  a:\n    image: x\n    depends_on: {b: {condition: ready}}\n").first?
            .contains("must be one of 'service_started', 'service_healthy', 'service_completed_successfully', not 'ready'") == true)
        #expect(try problems("services:\n  'a b': {image: x}\n") == ["2:3 services: 'a b' is not a valid name: use only letters, digits, '.', '_' and '-'"])
    }

    @Test func everyProblemIsReported() throws {
        #expect(try problems("services:\n  a: {image: x, portz: []}\n  b: {imag: y}\n").count == 2)
    }

    @Test func miniRegex() {
        #expect(MiniRegex("^x-")!.matches("x-foo"))
        #expect(!MiniRegex("^x-")!.matches("ax-foo"))
        #expect(MiniRegex("^[a-zA-Z0-9._-]+$")!.matches("web.1_a-b"))
        #expect(!MiniRegex("^[a-zA-Z0-9._-]+$")!.matches("web app"))
        let pull = MiniRegex("always|never|build|if_not_present|missing|refresh|daily|weekly|every_([0-9]+[wdhms])+")!
        #expect(pull.matches("every_12h30m"))
        #expect(!pull.matches("sometimes"))
    }
}

@Suite struct EmitterTests {
    @Test func yamlQuotingFollowsGoYAML() {
        let value = GoValue.map([
            "plain": .string("hello world"), "number": .string("1.5"), "bool": .string("true"), "old": .string("yes"),
            "empty": .string(""), "colon": .string("a: b"), "star": .string("*x"), "tab": .string("a\tb"),
            "multi": .string("l1\nl2"), "trailing": .string("l1\n"), "quote": .string("it's"), "nul": .string("null"),
            "base60": .string("1:20"), "Y": .string("y"),
        ])
        #expect(YAMLEmitter.emit(value) == """
        "Y": "y"
        base60: "1:20"
        bool: "true"
        colon: 'a: b'
        empty: ""
        multi: |-
          l1
          l2
        nul: "null"
        number: "1.5"
        old: "yes"
        plain: hello world
        quote: it's
        star: '*x'
        tab: "a\\tb"
        trailing: |
          l1

        """)
    }

    @Test func yamlKeyOrderIsGoYAMLs() {
        #expect(["a10", "a9", "b", "A_B", "AB"].sorted(by: goYAMLKeyLess) == ["A_B", "AB", "a9", "a10", "b"])
    }

    @Test func yamlNesting() {
        let value = GoValue.object([
            ("list", .list([.object([("a", .int(1)), ("b", .list([.string("x")]))]), .list([.int(1), .int(2)])])),
            ("empty", .map([:])), ("none", .list([])), ("null", .null), ("f", .float32(0.5)),
        ])
        #expect(YAMLEmitter.emit(value) == "list:\n  - a: 1\n    b:\n      - x\n  - - 1\n    - 2\nempty: {}\nnone: []\n\"null\": null\nf: 0.5\n")
    }

    @Test func jsonLikeEncodingJSON() {
        let value = GoValue.object([("s", .string("<a & b>\n")), ("m", .map(["b": .int(1), "a": .bool(true)])), ("e", .list([])), ("f", .float(1e21))])
        #expect(JSONEmitter.emit(value) == """
        {
          "s": "\\u003ca \\u0026 b\\u003e\\n",
          "m": {
            "a": true,
            "b": 1
          },
          "e": [],
          "f": 1e+21
        }
        """)
    }
}
