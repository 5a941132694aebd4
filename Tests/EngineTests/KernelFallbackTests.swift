import Testing
@testable import Engine

/// Which path the core takes for which answer of the kernel or the host: each fallback decision,
/// without the kernel (the kernel-matrix guests run the paths themselves).
@Suite struct KernelFallbackTests {
    @Test func firewallBackendIsTheHostsUnlessItCannotProgramTheKernel() {
        let both: [Firewall.Backend] = [.nft, .legacy]
        #expect(Firewall.choose(configured: .nft, installed: both) { _ in true } == .nft)
        #expect(Firewall.choose(configured: .legacy, installed: both) { _ in true } == .legacy, "the host's choice first")
        #expect(Firewall.choose(configured: .nft, installed: both) { $0 == .legacy } == .legacy,
                "nf_tables without its nat chains (user-mode Linux): the legacy backend")
        #expect(Firewall.choose(configured: .legacy, installed: both) { $0 == .nft } == .nft)
        #expect(Firewall.choose(configured: .nft, installed: [.nft]) { $0 == .legacy } == nil, "only what is installed")
        #expect(Firewall.choose(configured: nil, installed: both) { _ in true } == .nft, "unknown: nft first, as current distributions")
        #expect(Firewall.choose(configured: .nft, installed: both) { _ in false } == nil)
        var asked: [Firewall.Backend] = []
        _ = Firewall.choose(configured: .legacy, installed: both) { asked.append($0); return false }
        #expect(asked == [.legacy, .nft])
    }

    @Test func firewallBackendFromTheVersionLine() {
        #expect(Firewall.backend(ofVersion: "iptables-restore v1.8.9 (nf_tables)\n") == .nft)
        #expect(Firewall.backend(ofVersion: "iptables-restore v1.8.7 (legacy)\n") == .legacy)
        #expect(Firewall.backend(ofVersion: "iptables-restore v1.4.21\n") == nil)
    }
}

#if canImport(Glibc)
import Glibc
#endif

@Suite struct KernelPathDecisionTests {
    @Test func overlayLayersByLowerdirPlusOnlyWhereThePathIsResolved() {
        #expect(RootFilesystem.OverlayMethod.decide(probe: ENOENT) == .layersByFsconfig, "6.8+: the probe path is looked up")
        #expect(RootFilesystem.OverlayMethod.decide(probe: EINVAL) == .optionString, "6.5-6.7: unknown key")
        #expect(RootFilesystem.OverlayMethod.decide(probe: 0) == .optionString, "before 6.5: the legacy string takes any key")
        #expect(RootFilesystem.OverlayMethod.decide(probe: nil) == .optionString, "no new mount API")
    }

    @Test func overlayOptionStringFitsSixtyLayersAndRefusesMore() throws {
        let names = (0..<60).map { RootFilesystem.LowerName(store: "/var/lib/swcompose/layers", name: "l/" + String(format: "%012x", $0)) }
        let options = try RootFilesystem.options(lowers: names, upper: "/var/lib/swcompose/containers/\(String(repeating: "a", count: 64))/upper",
                                                 work: "/var/lib/swcompose/containers/\(String(repeating: "a", count: 64))/work", layerCount: 60)
        #expect(options.hasPrefix("lowerdir=l/000000000000:l/000000000001:"))
        #expect(options.utf8.count < 1200)
        let long = (0..<300).map { RootFilesystem.LowerName(store: "/s", name: "l/" + String(format: "%012x", $0)) }
        #expect(throws: SystemError.self) { try RootFilesystem.options(lowers: long, upper: "/u", work: "/w", layerCount: 300) }
        let escaped = try RootFilesystem.options(lowers: [.init(store: nil, name: "/odd:dir,x")], upper: "/u", work: "/w", layerCount: 1)
        #expect(escaped == #"lowerdir=/odd\:dir\,x,upperdir=/u,workdir=/w"#, "paths outside a store are escaped")
    }

    @Test func shortLinkIDsGrowOnlyOnACollision() {
        let chain = "abcdef0123456789" + String(repeating: "0", count: 48)
        #expect(RootFilesystem.linkID(chain) { _ in nil } == "abcdef012345")
        #expect(RootFilesystem.linkID(chain) { $0 == "abcdef012345" ? "../\(chain)/diff" : nil } == "abcdef012345", "its own link")
        #expect(RootFilesystem.linkID(chain) { $0 == "abcdef012345" ? "../other/diff" : nil } == "abcdef0123456789")
    }

    @Test func spawnFallsBackToCloneOnlyWhereClone3IsMissing() {
        #expect(Sys.SpawnMethod.fallback(afterClone3Error: ENOSYS) == .legacyClone, "no clone3, or a seccomp filter's ENOSYS")
        #expect(Sys.SpawnMethod.fallback(afterClone3Error: E2BIG) == .legacyClone, "a clone3 without CLONE_INTO_CGROUP (5.3-5.6)")
        #expect(Sys.SpawnMethod.fallback(afterClone3Error: EPERM) == nil)
        #expect(Sys.SpawnMethod.fallback(afterClone3Error: ENOMEM) == nil)
        #expect(Sys.SpawnMethod.fallback(afterClone3Error: EINVAL) == nil, "bad flags are a bug, not an old kernel")
    }

    @Test func namespacesJoinedByFileWhereSetnsTakesNoPidfd() {
        #expect(Sys.NamespaceJoin.fallback(afterPidfdSetnsError: EINVAL) == .files, "before 5.8")
        #expect(Sys.NamespaceJoin.fallback(afterPidfdSetnsError: EPERM) == nil)
        #expect(Sys.NamespaceJoin.order.last?.1 == "mnt", "the mount namespace is joined last")
    }
}

/// The cgroup v2 device allowlist as the verifier sees it: every instruction reachable (older
/// verifiers refuse unreachable ones), every path ending in exit.
@Suite struct DeviceFilterProgramTests {
    func unreachable(_ p: [DeviceFilter.Instruction]) -> [Int] {
        var seen = Set<Int>(), work = [0]
        while let i = work.popLast() {
            guard i < p.count, seen.insert(i).inserted else { continue }
            if p[i].code == DeviceFilter.exit { continue }
            if p[i].code == DeviceFilter.jneImm || p[i].code == DeviceFilter.jneReg { work.append(i + 1 + Int(p[i].offset)) }
            work.append(i + 1)
        }
        return p.indices.filter { !seen.contains($0) }
    }

    @Test(arguments: [
        [],
        [DeviceRule(allow: true, type: "a", major: -1, minor: -1, access: "rwm")],
        [DeviceRule(allow: true, type: "c", major: 10, minor: 200, access: "rw"), DeviceRule(allow: true, type: "a", major: -1, minor: -1, access: "rwm"),
         DeviceRule(allow: true, type: "b", major: 8, minor: -1, access: "r")],
        [DeviceRule(allow: true, type: "b", major: 8, minor: 0, access: "rwm")],
    ])
    func everyInstructionIsReachable(_ extra: [DeviceRule]) {
        let p = DeviceFilter.program(DeviceRule.dockerDefaults + extra)
        #expect(unreachable(p) == [], "\(extra)")
        #expect(p.last?.code == DeviceFilter.exit)
        for (i, ins) in p.enumerated() where ins.code == DeviceFilter.jneImm || ins.code == DeviceFilter.jneReg {
            #expect(i + 1 + Int(ins.offset) < p.count, "jump \(i) lands inside the program")
        }
    }

    @Test func anUnconditionalAllowEndsTheProgram() {
        let all = DeviceRule(allow: true, type: "a", major: -1, minor: -1, access: "rwm")
        let p = DeviceFilter.program([all, DeviceRule(allow: true, type: "c", major: 1, minor: 3, access: "rwm")])
        #expect(p.count == 8, "the context loads, allow, exit")
        #expect(p[6].immediate == 1 && p[7].code == DeviceFilter.exit)
    }
}

/// Where cgroups go: a delegated systemd scope (in system.slice) on systemd hosts with cgroup v2, `swcompose/` otherwise.
@Suite struct CgroupPlacementTests {
    @Test func cgroupParentsAreNamedAsDockersDriversNameThem() {
        #expect(CgroupPlacement.path(parent: "/ci/jobs/", id: "abc", ownCgroup: "/user/session") == "ci/jobs/abc", "absolute: from the root")
        #expect(CgroupPlacement.path(parent: "ci/jobs", id: "abc", ownCgroup: "/user/session") == "user/session/ci/jobs/abc", "relative: beneath the engine's")
        #expect(CgroupPlacement.path(parent: "ci", id: "abc", ownCgroup: "/") == "ci/abc")
        #expect(CgroupPlacement.path(parent: "app.slice", id: "abc") == "app.slice/swcompose-abc.scope")
        #expect(CgroupPlacement.path(parent: "app-web-db.slice", id: "abc") == "app.slice/app-web.slice/app-web-db.slice/swcompose-abc.scope")
    }

    @Test func systemdScopeOnlyWhereSystemdOwnsTheUnifiedTree() {
        #expect(CgroupPlacement.mode(systemdRunning: true, cgroupV2: true, systemdRun: "/usr/bin/systemd-run") == .systemdScope(systemdRun: "/usr/bin/systemd-run"))
        #expect(CgroupPlacement.mode(systemdRunning: true, cgroupV2: false, systemdRun: "/usr/bin/systemd-run") == .cgroupfs, "hybrid v1: cgroupfs")
        #expect(CgroupPlacement.mode(systemdRunning: false, cgroupV2: true, systemdRun: "/usr/bin/systemd-run") == .cgroupfs, "no systemd as init")
        #expect(CgroupPlacement.mode(systemdRunning: true, cgroupV2: true, systemdRun: nil) == .cgroupfs, "no systemd-run")
    }

    @Test func theSupervisorsCommand() {
        let plain = CgroupPlacement.supervisorCommand(.cgroupfs, helper: "/usr/local/bin/swcompose-runtime", arguments: ["__supervise", "/var/lib/swcompose", "demo"],
                                                      group: "demo", nonce: 0xab)
        #expect(plain.path == "/usr/local/bin/swcompose-runtime" && plain.argv == ["swcompose", "__supervise", "/var/lib/swcompose", "demo"])
        let scoped = CgroupPlacement.supervisorCommand(.systemdScope(systemdRun: "/usr/bin/systemd-run"), helper: "/h", arguments: ["__supervise", "/r", "my app"],
                                                       group: "my app", nonce: 0xab)
        #expect(scoped.path == "/usr/bin/systemd-run")
        #expect(scoped.argv.contains("--unit=swcompose-my_app-ab.scope") && scoped.argv.contains("--property=Delegate=yes")
                && scoped.argv.contains("--slice=system.slice") && scoped.argv.contains("--scope"))
        #expect(Array(scoped.argv.suffix(4)) == ["/h", "__supervise", "/r", "my app"], "systemd-run executes the helper itself")
        #expect(scoped.argv[1] != "__supervise" && scoped.argv.firstIndex(of: "/h")! + 1 == scoped.argv.firstIndex(of: "__supervise")!)
    }

    @Test func theDelegatedScopeIsFoundFromTheProcessCgroup() {
        #expect(CgroupPlacement.delegatedScope(ownCgroup: "/system.slice/swcompose-demo-ab.scope") == "system.slice/swcompose-demo-ab.scope")
        #expect(CgroupPlacement.delegatedScope(ownCgroup: "/system.slice/swcompose-demo-ab.scope/supervisor") == "system.slice/swcompose-demo-ab.scope")
        #expect(CgroupPlacement.delegatedScope(ownCgroup: "/user.slice/user-1000.slice/session-2.scope") == nil, "a login session is not ours")
        #expect(CgroupPlacement.delegatedScope(ownCgroup: "/") == nil)
        #expect(CgroupPlacement.delegatedScope(ownCgroup: "/system.slice/docker-x.scope") == nil, "only swcompose's scopes")
        #expect(CgroupPlacement.delegatedScope(ownCgroup: "/user.slice/swcompose-x.scope") == nil, "only under system.slice")
    }
}

/// The helper's modes, spelled once (`HelperMode`): how each is started, and how a process's command
/// line is recognised as one.
@Suite struct HelperModeTests {
    @Test func modesAreStartedAndRecognisedByOneSpelling() {
        #expect(HelperMode.exec.arguments() == ["swcompose", "__exec"])
        #expect(HelperMode.containerInit.arguments(["--join", "/t"]) == ["swcompose", "__init", "--join", "/t"])
        for mode in HelperMode.allCases {
            let cmdline = Array((["/usr/local/bin/swcompose-runtime"] + [mode.rawValue, "x"]).joined(separator: "\0").utf8) + [0]
            #expect(HelperMode.of(commandLine: cmdline) == mode)
        }
        #expect(HelperMode.of(commandLine: Array("swcompose\0up\0".utf8)) == nil)
        #expect(HelperMode.of(commandLine: []) == nil)
        #expect(HelperMode.run(["swcompose", "up"]) == nil, "not a helper mode: the CLI parses it")
        #expect(HelperMode.run(["swcompose"]) == nil)
    }
}
