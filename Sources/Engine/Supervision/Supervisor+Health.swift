#if canImport(Glibc)
import Glibc
#endif

/// Healthchecks: probes run through the exec helper, docker's rules for their results, and the early
/// probes before docker's first one.
extension Supervisor {
    /// Runs one probe inside the container (through the exec helper), output captured.
    func startProbe(_ m: Managed) {
        guard let hc = m.spec.healthcheck else { return }
        let args: [String]
        switch hc.test.first {
        case "CMD": args = Array(hc.test.dropFirst())
        case "CMD-SHELL": args = ["/bin/sh", "-c", hc.test.dropFirst().joined(separator: " ")]
        default: args = hc.test
        }
        let cgroup = runtime.cgroup(id: m.spec.id, state: m.state)
        var request = ExecRequest(record: ContainerRecord(spec: m.spec, state: m.state), cgroup: cgroup, args: args)
        request.killOnTerminate = true
        let prepared = m.preparedProbe
        m.preparedProbe = nil
        let exec: PreparedExec
        let output: Int32
        if let prepared, prepared.exec.isAlive {
            (exec, output) = prepared
        } else {
            if let prepared { discardPreparedProbe(prepared) }
            guard let made = makeProbeHelper(cgroup) else {
                recordProbe(m, start: Timestamp.rfc3339(), exitCode: -1, output: "health probe failed to start: no exec helper")
                return
            }
            (exec, output) = made
        }
        do {
            let (_, pidfd) = try exec.send(request)
            Sys.setNonBlocking(output)
            let probe = Probe(pidfd: pidfd, output: output, deadline: Self.now() + Double(hc.timeout) / 1e9)
            m.probe = probe
            probe.died = EventJournal(root: runtime.root).recordExec(args, m.spec)
            watch(output, .probeOutput(m.spec.id))
            watch(pidfd, .probeExit(m.spec.id))
            Trace.mark("probe started \(m.spec.name)")
        } catch {
            Sys.close(output)
            recordProbe(m, start: Timestamp.rfc3339(), exitCode: -1, output: "health probe failed to start: \(error)")
        }
    }

    /// An exec helper for a probe of the container in `cgroup`, its output (both streams) into a pipe
    /// whose read end is returned with it; nil when no helper could be made.
    func makeProbeHelper(_ cgroup: Cgroup) -> (exec: PreparedExec, output: Int32)? {
        guard let output = try? Sys.pipe() else { return nil }
        defer { Sys.close(output.write) }
        guard let null = try? Sys.open("/dev/null", O_RDONLY) else {
            Sys.close(output.read)
            return nil
        }
        defer { Sys.close(null) }
        do {
            let exec = try ContainerExec.prepare(cgroupDirectories: cgroup.directories,
                                                 runtime: Runtime(root: runtime.root, helper: runtime.helper),
                                                 stdio: (null, output.write, output.write))
            return (exec, output.read)
        } catch {
            Sys.close(output.read)
            return nil
        }
    }

    /// As a container with a healthcheck starts, the helper of its first probe is spawned, so that it
    /// has loaded by the time the probe is due (`firstEarlyProbe` later): the probe then costs a
    /// dependent waiting on it only the probe's own run.
    func prepareProbe(_ m: Managed) {
        guard m.spec.healthcheck != nil, m.preparedProbe == nil, m.isRunning else { return }
        m.preparedProbe = makeProbeHelper(runtime.cgroup(id: m.spec.id, state: m.state))
    }

    /// A prepared probe helper not used (the container exited first): killed, reaped, closed.
    func discardPreparedProbe(_ prepared: (exec: PreparedExec, output: Int32)) {
        prepared.exec.discard()
        Sys.close(prepared.output)
    }

    func readProbe(_ id: String) {
        guard let m = managed[id], let probe = m.probe else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            switch Sys.readAvailable(probe.output, into: &buffer) {
            case .data(let n):
                // docker keeps at most 4 KiB of a probe's output.
                if probe.captured.count < 4096 { probe.captured += buffer[0..<min(n, 4096 - probe.captured.count)] }
            case .end:
                unwatch(probe.output)
                return
            case .wouldBlock:
                return
            }
        }
    }

    func probeFinished(_ id: String) {
        guard let m = managed[id], let probe = m.probe else { return }
        readProbe(id)
        let status = try? Sys.wait(pidfd: probe.pidfd, block: false)
        guard let status else { return }
        finishProbe(m, probe, exitCode: status.code)
    }

    func finishProbe(_ m: Managed, _ probe: Probe, exitCode: Int32?) {
        unwatch(probe.pidfd)
        if sources[probe.output] != nil { unwatch(probe.output) }
        _ = try? Sys.wait(pidfd: probe.pidfd, block: false)
        Sys.close(probe.pidfd)
        Sys.close(probe.output)
        m.probe = nil
        probe.died(probe.timedOut ? -1 : (exitCode ?? -1))
        guard let hc = m.spec.healthcheck, m.isRunning, var code = exitCode else { return }
        var output = String(decoding: probe.captured, as: UTF8.self)
        if probe.timedOut {
            code = -1
            output = "Health check exceeded timeout (\(Timestamp.goDuration(hc.timeout)))"
        }
        recordProbe(m, start: probe.startedAt, exitCode: code, output: output)
    }

    /// docker's rules: success makes it healthy; failures count once the start period is over (or
    /// while still starting, a failure inside it is forgiven); `retries` failures in a row: unhealthy.
    /// The early probes before docker's first one are forgiven like those of a start period, so a
    /// container turns unhealthy no sooner than under docker.
    func recordProbe(_ m: Managed, start: String, exitCode: Int32, output: String) {
        guard let hc = m.spec.healthcheck else { return }
        var health = m.state.health ?? HealthState()
        let was = health.status, streak = health.failingStreak
        health.log.append(HealthState.Probe(start: start, end: Timestamp.rfc3339(), exitCode: exitCode, output: output))
        if health.log.count > 5 { health.log.removeFirst(health.log.count - 5) }
        let now = Self.now()
        let inStartPeriod = now < m.startedMonotonic + Double(hc.startPeriod) / 1e9
        let early = m.earlyProbesUntil.map { now < $0 } ?? false
        if exitCode == 0 {
            health.status = .healthy
            health.failingStreak = 0
        } else if !((inStartPeriod || early) && health.status == .starting) {
            health.failingStreak += 1
            if health.failingStreak >= max(1, hc.retries) { health.status = .unhealthy }
        }
        m.state.health = health
        if health.status != was || health.failingStreak != streak {
            persist(m)
        } else if m.persistAt == nil {
            m.persistAt = now + Self.healthLogDelay
        }
        Trace.mark("probe recorded \(m.spec.name): \(health.status.rawValue)")
        if health.status != was { event("health_status: \(health.status.rawValue)", m) }
        if early, health.status == .starting, let until = m.earlyProbesUntil {
            m.earlyProbeDelay *= 2
            m.nextProbe = min(until, now + m.earlyProbeDelay)
            if now + m.earlyProbeDelay >= until { m.earlyProbesUntil = nil }
            return
        }
        m.earlyProbesUntil = nil
        let stillStarting = inStartPeriod && health.status == .starting
        m.nextProbe = now + Double(stillStarting ? hc.startInterval : hc.interval) / 1e9
    }
}
