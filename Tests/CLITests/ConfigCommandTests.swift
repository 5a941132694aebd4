import Foundation
import Testing

@Suite struct ConfigCommandTests {
    let project = """
    services:
      web:
        image: nginx:${TAG:-1.25}
        depends_on: [api]
        volumes: [data:/data]
        networks: [front]
      api:
        build: ./api
        environment:
          - DEBUG
          - LEVEL=${LEVEL}
        env_file: api.env
        networks: [front, back]
        profiles: [core]
      tool:
        image: busybox
        profiles: [tools]
    networks: {front: {}, back: {}}
    volumes: {data: {}}
    """

    func scratch() throws -> Scratch {
        let s = try Scratch(name: "demo")
        try s.write("compose.yaml", project)
        try s.write(".env", "LEVEL=warn\nTAG=from-dotenv\n")
        try s.write("api.env", "FROM_FILE=1\nDEBUG=file\n")
        return s
    }

    @Test func listsServicesVolumesNetworksProfilesImages() throws {
        let s = try scratch()
        let env = ["COMPOSE_PROFILES": "core"]
        #expect(try Swcompose.run(["config", "--services"], in: s.url, environment: env).stdout == "api\nweb\n")
        #expect(try Swcompose.run(["config", "--volumes"], in: s.url, environment: env).stdout == "data\n")
        #expect(try Swcompose.run(["config", "--networks"], in: s.url, environment: env).stdout == "back\nfront\n")
        #expect(try Swcompose.run(["config", "--profiles"], in: s.url, environment: env).stdout == "core\ntools\n")
        #expect(try Swcompose.run(["config", "--images"], in: s.url, environment: env).stdout == "demo-api\nnginx:from-dotenv\n")
        #expect(try Swcompose.run(["--profile", "tools", "--profile", "core", "config", "--services"], in: s.url).stdout == "api\ntool\nweb\n")
    }

    /// The hashes docker compose 2.40.3 printed for this project (`config --hash '*'`), which it also
    /// puts on the containers as com.docker.compose.config-hash: recreation decisions agree with it.
    @Test func configHashesAreDockerComposes() throws {
        let s = try Scratch(name: "hashes")
        try s.write("compose.yaml", """
            services:
              web:
                image: nginx:1.27
                ports: ["8080:80", "127.0.0.1:9000-9001:9000-9001/udp"]
                environment:
                  A: "1"
                  B: two
                volumes: [data:/data, /srv/site:/site:ro]
                depends_on: [db]
                healthcheck:
                  test: ["CMD", "true"]
                  interval: 10s
                deploy:
                  replicas: 2
                  resources:
                    limits: {memory: 64m, cpus: "0.5"}
              db:
                image: postgres
                command: postgres -c fsync=off
                labels: [a=b]
                networks:
                  back: {aliases: [database]}
                secrets: [pw]
                tmpfs: [/run]
                ulimits: {nofile: {soft: 1024, hard: 2048}}
                stop_grace_period: 1m30s
            networks:
              back: {}
            volumes:
              data: {}
            secrets:
              pw: {environment: PW}
            """)
        let all = try Swcompose.run(["config", "--hash", "*"], in: s.url)
        #expect(all.stdout == """
            db bc6d6dd28ab17faff1744a69491c9c9f5cba34082e04a0c0095e883c61a9b553
            web f6aab560ce3f281afccd9ee218ae90c98e4b16b6dd8e02a2ffaf15564317dbcd

            """, "\(all.stderr)")
        #expect(try Swcompose.run(["config", "--hash", "web"], in: s.url).stdout == "web f6aab560ce3f281afccd9ee218ae90c98e4b16b6dd8e02a2ffaf15564317dbcd\n")
        let unknown = try Swcompose.run(["config", "--hash", "web,nope"], in: s.url)
        #expect(unknown.status == 1 && unknown.stdout.isEmpty && unknown.stderr == "no such service: nope\n")
    }

    @Test func namingAServiceEnablesItsProfile() throws {
        let s = try scratch()
        let r = try Swcompose.run(["config", "--services", "tool"], in: s.url, environment: ["COMPOSE_PROFILES": "core"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "tool\n")
    }

    @Test func quietValidatesOnly() throws {
        let s = try scratch()
        let ok = try Swcompose.run(["--profile", "core", "config", "-q"], in: s.url)
        #expect(ok.status == 0 && ok.stdout.isEmpty)
        try s.write("compose.yaml", "services:\n  web:\n    imag: x\n")
        let bad = try Swcompose.run(["config", "-q"], in: s.url)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("compose.yaml:3:5: error: services.web: unknown key 'imag' (did you mean 'image'?)"))
    }

    @Test func readsTheProjectFromStandardInput() throws {
        let s = try Scratch(name: "stdin-project")
        let r = try Swcompose.run(["-f", "-", "config", "--format", "json"], in: s.url, stdin: "services:\n  a:\n    image: x\n")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("\"name\": \"stdin-project\""))
        let bad = try Swcompose.run(["-f", "-", "config"], in: s.url, stdin: "services:\n  a:\n    image: [x]\n")
        #expect(bad.stderr.contains("-:3:12: error: services.a.image must be a string, not a list"))
    }

    @Test func findsTheProjectInAParentDirectory() throws {
        let s = try scratch()
        let sub = s.url.appendingPathComponent("deep/down")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        let r = try Swcompose.run(["--profile", "core", "config", "--services"], in: sub)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "api\nweb\n")
        let none = try Swcompose.run(["config"], in: FileManager.default.temporaryDirectory)
        #expect(none.status == 1)
        #expect(none.stderr.contains("no configuration file provided"))
    }

    @Test func writesToAFile() throws {
        let s = try scratch()
        let r = try Swcompose.run(["--profile", "core", "config", "-o", "out.yaml"], in: s.url)
        #expect(r.status == 0 && r.stdout.isEmpty)
        let written = try String(contentsOf: s.url.appendingPathComponent("out.yaml"), encoding: .utf8)
        #expect(written.hasPrefix("name: demo\nservices:\n"))
    }

    @Test func environmentReportSaysWhereValuesComeFrom() throws {
        let s = try scratch()
        let r = try Swcompose.run(["--profile", "core", "config", "--environment"], in: s.url, environment: ["LEVEL": "shell", "DEBUG": "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        // LEVEL: the shell wins over .env, and the report says what it hides.
        #expect(lines.contains { $0.hasPrefix("LEVEL") && $0.contains("\"shell\"") && $0.contains("shell environment; overrides .env:1:1=warn") && $0.contains("compose.yaml:11:9") })
        #expect(lines.contains { $0.hasPrefix("TAG") && $0.contains("\"from-dotenv\"") && $0.contains(".env:2:1") })
        // Container environment of api: DEBUG named without a value takes the shell's, over api.env.
        #expect(lines.contains { $0.hasPrefix("DEBUG") && $0.contains("\"1\"") && $0.contains("shell environment (named without a value at compose.yaml:10:9); overrides env_file api.env:2:1") })
        #expect(lines.contains { $0.hasPrefix("FROM_FILE") && $0.contains("env_file api.env:1:1") })
    }

    @Test func warningsAndErrorsPointAtTheirSource() throws {
        let s = try Scratch(name: "warn")
        try s.write("compose.yaml", "services:\n  a:\n    image: x${NOPE}\n    ports: ['80:99999']\n    volumes: ['ghost:/g']\n")
        let r = try Swcompose.run(["config"], in: s.url)
        #expect(r.status == 1)
        #expect(r.stderr.contains("compose.yaml:3:12: warning: variable NOPE is not set; using an empty string"))
        #expect(r.stderr.contains("compose.yaml:4:13: error: invalid port '80:99999': invalid containerPort: 99999"))
        #expect(r.stderr.contains("        ports: ['80:99999']\n                ^"))
    }

    @Test func reportsAllProblemsAtOnce() throws {
        let s = try Scratch(name: "many")
        try s.write("compose.yaml", "services:\n  a:\n    image: x\n    volumes: ['ghost:/g']\n    networks: [nowhere]\n    depends_on: [nobody]\n")
        let r = try Swcompose.run(["config"], in: s.url)
        #expect(r.status == 1)
        #expect(r.stderr.contains("3 errors"))
        #expect(r.stderr.contains("compose.yaml:4:15: error: service \"a\" refers to undefined volume ghost"))
        #expect(r.stderr.contains("compose.yaml:5:16: error: service \"a\" refers to undefined network nowhere"))
        #expect(r.stderr.contains("compose.yaml:6:18: error: service \"a\" depends on undefined service \"nobody\""))
    }

    @Test func noInterpolateKeepsTheTemplates() throws {
        let s = try scratch()
        let r = try Swcompose.run(["config", "--no-interpolate"], in: s.url)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("image: nginx:${TAG:-1.25}"))
    }

    @Test func versionAndHelp() throws {
        let s = try Scratch()
        #expect(try Swcompose.run(["version"], in: s.url).stdout.hasPrefix("swcompose version "))
        let help = try Swcompose.run(["--help"], in: s.url)
        #expect(help.stdout.contains("config") && help.stdout.contains("--project-directory"))
    }
}
