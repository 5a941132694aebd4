import Testing
@testable import ComposeModel

@Suite struct InterpolationTests {
    func substitute(_ template: String, _ env: [String: String]) throws -> String {
        try Interpolator(lookup: { env[$0] }).substitute(template)
    }

    @Test(arguments: [
        ("${A}", "a"), ("$A", "a"), ("x${A}y", "xay"), ("$A$A", "aa"),
        ("${A:-d}", "a"), ("${E:-d}", "d"), ("${U:-d}", "d"),
        ("${A-d}", "a"), ("${E-d}", ""), ("${U-d}", "d"),
        ("${A:+alt}", "alt"), ("${E:+alt}", ""), ("${E+alt}", "alt"), ("${U+alt}", ""),
        ("${U:-${A}-x}", "a-x"), ("${U-${U2-${U3-deep}}}", "deep"),
        ("$$A", "$A"), ("$${A}", "${A}"), ("cost $5", "cost $5"), ("end$", "end$"), ("$(cmd)", "$(cmd)"),
        ("${U:-{x}}", "{x}"), ("${U:-a}b}", "ab}"), ("${lower:-l}", "l"),
        ("${A?must}", "a"), ("${E?must}", ""),
    ])
    func forms(_ template: String, _ expected: String) throws {
        #expect(try substitute(template, ["A": "a", "E": ""]) == expected)
    }

    @Test(arguments: ["${A B}", "${}", "${1A}", "${A:x}", "${", "${A"])
    func malformedTemplatesAreRefused(_ template: String) {
        #expect(throws: Interpolator.Failure.invalidTemplate(template)) { try substitute(template, [:]) }
    }

    @Test func requiredVariablesNameTheVariableAndReason() {
        #expect(throws: Interpolator.Failure.missingRequired(variable: "IMG", reason: "set the image")) {
            try substitute("${IMG:?set the image}", ["IMG": ""])
        }
        #expect(throws: Interpolator.Failure.missingRequired(variable: "IMG", reason: "")) {
            try substitute("${IMG?}", [:])
        }
    }

    @Test func referencesAreRecordedWithTheirUse() throws {
        var refs: [Interpolator.Reference] = []
        let i = Interpolator(lookup: { $0 == "A" ? "1" : nil }, record: { refs.append($0) })
        _ = try i.substitute("${A} ${B:-x}")
        #expect(refs.map(\.name) == ["A", "B"])
        #expect(refs[1].use == .defaultValue("x", ifEmpty: true))
        #expect(refs[1].value == nil)
    }
}


@Suite struct DotEnvTests {
    func parse(_ text: String, _ env: [String: String] = [:], fallback: [String: String] = [:]) throws -> [String: String] {
        var result: [String: String] = [:]
        for v in try DotEnv.parse(text, lookup: { env[$0] }, fallback: { fallback[$0] }) { result[v.key] = v.value }
        return result
    }

    @Test func forms() throws {
        let vars = try parse("""
        # comment
          # indented comment
        PLAIN=plain value # trailing comment
        NOCOMMENT=a#b
        export EXPORTED=exp
        SQ='single $PLAIN #kept'
        DQ="double ${PLAIN} \\"q\\" tab\\tnl\\n"
        DOLLAR="cost \\$5"
        YAMLSTYLE: yaml-ish
        EMPTY=
        SPACES =  spaced
        REF=${PLAIN}-ref
        MULTI="line1
        line2"
        DOTTED.KEY=dot
        """)
        #expect(vars["PLAIN"] == "plain value")
        #expect(vars["NOCOMMENT"] == "a#b")
        #expect(vars["EXPORTED"] == "exp")
        #expect(vars["SQ"] == "single $PLAIN #kept")
        #expect(vars["DQ"] == "double plain value \"q\" tab\tnl\n")
        #expect(vars["DOLLAR"] == "cost $5")
        #expect(vars["YAMLSTYLE"] == "yaml-ish")
        #expect(vars["EMPTY"] == "")
        #expect(vars["SPACES"] == "spaced")
        #expect(vars["REF"] == "plain value-ref")
        #expect(vars["MULTI"] == "line1\nline2")
        #expect(vars["DOTTED.KEY"] == "dot")
    }

    @Test func environmentComesFirstThenTheFileThenEarlierFiles() throws {
        // docker compose looks a name up in the shell, then in the lines read so far, then earlier files.
        let vars = try parse("C=${B}\nB=own\nD=${B}\nE=${X}\n", ["B": "shell"], fallback: ["X": "earlier"])
        #expect(vars["C"] == "shell")
        #expect(vars["D"] == "shell")
        #expect(vars["E"] == "earlier")
        let local = try parse("C=${B}\nB=own\nD=${B}\n", fallback: ["B": "earlier"])
        #expect(local["C"] == "earlier")
        #expect(local["D"] == "own")
    }

    @Test func bareKeysInheritFromTheEnvironment() throws {
        let vars = try parse("FROM_SHELL\nNOWHERE\n", ["FROM_SHELL": "s"])
        #expect(vars["FROM_SHELL"] == "s")
        #expect(vars["NOWHERE"] == nil)
    }

    @Test func lineNumbersAreKept() throws {
        let vars = try DotEnv.parse("# c\nA=1\n\nB=\"x\ny\"\nC=3\n")
        #expect(vars.map(\.line) == [2, 4, 6])
    }

    @Test func errorsNameTheLine() {
        #expect(throws: DotEnv.Failure(line: 2, message: "key cannot contain a space")) { try parse("A=1\nBAD KEY=2\n") }
        #expect { try parse("A=\"open\nB=2\n") } throws: { ($0 as? DotEnv.Failure)?.line == 1 }
    }
}

@Suite struct UnitsTests {
    @Test(arguments: [("1m30s", "1m30s"), ("90s", "1m30s"), ("1h", "1h0m0s"), ("500ms", "500ms"), ("1.5s", "1.5s"),
                      ("2d", "48h0m0s"), ("1w", "168h0m0s"), ("100us", "100µs"), ("10ns", "10ns"), ("0", "0s"),
                      ("1m0.5s", "1m0.5s"), ("-1s", "-1s")])
    func durations(_ text: String, _ printed: String) throws {
        #expect(try Duration(parsing: text).description == printed)
    }

    @Test(arguments: ["10x", "s", "1", "", "1.2.3s"])
    func badDurations(_ text: String) {
        #expect(throws: Duration.ParseError.self) { try Duration(parsing: text) }
    }

    @Test(arguments: [("512", 512), ("64m", 67_108_864), ("1.5g", 1_610_612_736), ("10KiB", 10240), ("2gb", 2_147_483_648),
                      ("1 k", 1024), ("100b", 100)] as [(String, Int64)])
    func sizes(_ text: String, _ bytes: Int64) throws {
        #expect(try ByteSize.parse(text) == bytes)
    }

    @Test(arguments: ["10zb", "abc", "-1", "1kbb"])
    func badSizes(_ text: String) {
        #expect(throws: ByteSize.ParseError.self) { try ByteSize.parse(text) }
    }

    @Test(arguments: [
        ("echo \"hello world\" 'single' $$HOME", ["echo", "hello world", "single", "$$HOME"]),
        ("a && b", ["a"]), ("a\\tb", ["atb"]), ("'c\\d'", ["c\\d"]), ("\"e\\\"f\\\\g\"", ["e\"f\\g"]),
        ("  spaced   words  ", ["spaced", "words"]), ("", []), ("a\"b\"c 'd'e", ["abc", "de"]), ("sh -c 'x; y'", ["sh", "-c", "x; y"]),
        ("$(pwd) `date`", ["$(pwd)", "`date`"]), ("2>file x", []), ("\"\"", [""]),
    ])
    func shellWords(_ line: String, _ words: [String]) throws {
        #expect(try ShellWords.split(line) == words)
    }

    @Test func unterminatedQuotesAreRefused() {
        #expect(throws: ShellWords.ParseError.self) { try ShellWords.split("echo 'open") }
    }
}
