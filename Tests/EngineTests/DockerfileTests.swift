import Testing
@testable import Engine

/// The builder's pure pieces: the Dockerfile parser, BuildKit's word expansion, `.dockerignore`
/// matching, `--chmod` modes, durations.
struct DockerfileParserTests {
    @Test func instructionsFlagsFormsAndLocations() {
        let (d, problems) = Dockerfile.parse("""
            # syntax=docker/dockerfile:1
            ARG V=1
            FROM busybox:${V} AS base
              RUN --mount=type=cache,target=/c \\
                  echo one \\
            # a comment inside the continuation
                  && echo two
            COPY --chown=1:2 --link ["a b", "/dst/"]
            CMD ["sh", "-c", "x"]
            """, file: "Dockerfile")
        #expect(problems.isEmpty)
        #expect(d.syntax == "docker/dockerfile:1")
        #expect(d.instructions.map(\.keyword) == ["ARG", "FROM", "RUN", "COPY", "CMD"])
        let run = d.instructions[2]
        #expect(run.location.line == 4 && run.location.column == 3)
        #expect(run.flags == [Dockerfile.Flag(name: "mount", value: "type=cache,target=/c", location: run.flags[0].location)])
        #expect(run.flags[0].location.column == 7)
        #expect(run.text == "echo one       && echo two")
        let copy = d.instructions[3]
        #expect(copy.flag("chown")?.value == "1:2" && copy.flag("link") != nil && copy.flag("link")?.value == nil)
        #expect(copy.json == ["a b", "/dst/"])
        #expect(d.instructions[4].json == ["sh", "-c", "x"])
    }

    @Test func everyProblemIsReportedWithItsPlace() {
        let (_, problems) = Dockerfile.parse("FROM a\nCOPPY x y\nRUN --mnt=x true\nEXPOSE\n", file: "Dockerfile")
        #expect(problems.map(\.message) == [
            "unknown instruction: COPPY (did you mean copy?)",
            "unknown flag: --mnt (RUN takes --mount, --network, --security)",
            "EXPOSE requires at least one argument",
        ])
        #expect(problems.map { $0.location!.line } == [2, 3, 4])
        #expect(Dockerfile.parse("ENV A=b\nFROM x\n", file: "D").1.first?.message == "ENV before the first FROM: only ARG may come before it")
        #expect(Dockerfile.parse("", file: "D").1.first?.message == "the Dockerfile cannot be empty")
    }

    @Test func heredocsAndTheEscapeDirective() {
        let (d, problems) = Dockerfile.parse("FROM a\nRUN <<EOF\necho 1\necho 2\nEOF\nCOPY <<-\"END\" /f\n\tindented\n\tEND\n", file: "D")
        #expect(problems.isEmpty)
        #expect(d.instructions[1].heredocs == [Dockerfile.Heredoc(name: "EOF", content: "echo 1\necho 2\n", stripTabs: false, quoted: false)])
        #expect(d.instructions[2].heredocs == [Dockerfile.Heredoc(name: "END", content: "indented\n", stripTabs: true, quoted: true)])
        #expect(Dockerfile.parse("FROM a\nRUN <<EOF\nnever closed\n", file: "D").1.first?.message == "unterminated heredoc <<EOF")
        let (w, _) = Dockerfile.parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo\n", file: "D")
        #expect(w.escape == "`" && w.instructions[1].text == "dir c:\\   && echo")
    }
}

struct ShellWordsTests {
    let words = ShellWords(variables: ["A": "1", "EMPTY": "", "SPACED": "x y"])

    @Test func substitutionsAsBuildKitExpandsThem() throws {
        #expect(try words.expand("$A ${A} ${UNSET} ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${A:+set} ${UNSET:+set} ${A+set}") == "1 1  d d  set  set")
        #expect(try words.expand("'$A' \"$A\" \\$A") == "$A 1 $A")
        #expect(throws: ShellWords.Failure.self) { try words.expand("${UNSET:?must be set}") }
        #expect(throws: ShellWords.Failure.self) { try words.expand("'open") }
    }

    @Test func wordsSplitAtUnquotedSpaceAfterExpansionOfTheirOwn() throws {
        #expect(try words.words("a \"b c\" $SPACED d\\ e") == ["a", "b c", "x y", "d e"])
        let pairs = try words.pairs("K=$A Q=\"two words\" \"R\"=x L", legacy: false)
        #expect(pairs.map(\.0) == ["K", "Q", "R", "L"] && pairs.map(\.1) == ["1", "two words", "x", nil])
        let legacy = try words.pairs("KEY some value $A", legacy: true)
        #expect(legacy.count == 1 && legacy[0].0 == "KEY" && legacy[0].1 == "some value 1")
    }
}

struct BuildContextTests {
    @Test func dockerignoreAsDockerMatchesIt() {
        let p = BuildContext.parseIgnore("# comment\n**/*.log\nnode_modules\n!keep.log\nbuild/*/tmp\n/abs\n")
        func ignored(_ path: String) -> Bool { BuildContext.ignored(path, p) }
        #expect(ignored("a.log") && ignored("deep/er/x.log") && !ignored("keep.log"))
        #expect(ignored("node_modules") && ignored("node_modules/pkg/index.js"), "a matched directory takes what is below it")
        #expect(!ignored("src/node_modules"), "patterns are anchored at the context root")
        #expect(ignored("build/x/tmp") && ignored("build/x/tmp/y") && !ignored("build/tmp"))
        #expect(ignored("abs") && !ignored("src/main.swift"))
        #expect(BuildContext.escapes("../x") && BuildContext.escapes("a/../../x") && !BuildContext.escapes("a/../x") && !BuildContext.escapes("./x"))
    }

    @Test func chmodModesOctalAndSymbolic() {
        #expect(FileMode.parse("0755")?.apply(to: 0o644, isDirectory: false) == 0o755)
        #expect(FileMode.parse("u+x,go-w")?.apply(to: 0o666, isDirectory: false) == 0o744)
        #expect(FileMode.parse("a=r")?.apply(to: 0o777, isDirectory: false) == 0o444)
        #expect(FileMode.parse("a+X")?.apply(to: 0o644, isDirectory: true) == 0o755)
        #expect(FileMode.parse("a+X")?.apply(to: 0o644, isDirectory: false) == 0o644)
        #expect(FileMode.parse("z+q") == nil && FileMode.parse("99999") == nil)
    }

    @Test func durationsAndPaths() {
        #expect(BuildDuration.parse("30s") == 30_000_000_000 && BuildDuration.parse("1m30s") == 90_000_000_000)
        #expect(BuildDuration.parse("500ms") == 500_000_000 && BuildDuration.parse("1h") == 3_600_000_000_000)
        #expect(BuildDuration.parse("10") == nil && BuildDuration.parse("x") == nil)
        #expect(BuildPath.clean("/a/./b/../c/") == "/a/c" && BuildPath.clean("../../x") == "/x" && BuildPath.parent("/a/b") == "/a")
    }

    @Test func mountFlags() {
        let m = MountFlag.parse("type=cache,target=/root/.cache,id=pip,sharing=locked,uid=1000")
        #expect(m?.type == "cache" && m?.target == "/root/.cache" && m?.id == "pip" && m?.uid == 1000)
        #expect(MountFlag.parse("type=secret,id=tok,required")?.required == true)
        #expect(MountFlag.parse("type=bogus,target=/x") == nil && MountFlag.parse("type=bind,wat=1") == nil)
    }
}
