import ArgumentParser
import ComposeModel
import Engine
import Scheduler

struct KubeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kube",
        abstract: "Take the project to Kubernetes.",
        subcommands: [KubeGenerate.self]
    )
}

extension KubeOptions.Publish: ExpressibleByArgument {}

/// `kube generate`: the project as `config` sees it, as Kubernetes manifests on standard output (or a
/// file); what has no Kubernetes form is said as located warnings (errors with `--strict`).
struct KubeGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write Kubernetes manifests for the project.",
        discussion: "For example: swcompose kube generate | kubectl apply -f -"
    )

    @Option(name: [.short, .long], help: ArgumentHelp("Write the manifests to this file instead of standard output.", valueName: "FILE"))
    var output: String?

    @Option(name: .long, help: "The namespace of every object (and of the wait account's binding; default: default).")
    var namespace: String?

    @Option(name: .long, help: "How published ports are reached: nodeport, loadbalancer, or hostport (on the container, for single-node runners such as podman kube play).")
    var publish: KubeOptions.Publish = .nodePort

    @Flag(name: .customLong("host-path"), help: "Mount bind mounts from the node (hostPath) instead of leaving them out with a warning.")
    var hostPath = false

    @Option(name: .customLong("volume-size"), help: "The size a named volume's claim asks for (a volume's x-kubernetes: {size: …} says otherwise).")
    var volumeSize = "1Gi"

    @Option(name: .customLong("wait-image"), help: "The image of the init containers that wait for a dependency's port (needs nc).")
    var waitImage = KubeOptions().waitImage

    @Option(name: .customLong("kubectl-image"), help: "The image of the init containers that ask the API (needs kubectl).")
    var kubectlImage = KubeOptions().kubectlImage

    @Flag(name: .long, help: "Fail on settings without a Kubernetes form instead of warning.")
    var strict = false

    @Flag(name: .long, help: "Build the services' images and push them to their image: registries; the manifests run the pushed digests.")
    var push = false

    @Argument(help: "Services to convert (and what they depend on); default: all.")
    var services: [String] = []

    func run() throws {
        var options = KubeOptions()
        options.services = services
        options.namespace = namespace
        options.publish = publish
        options.hostPath = hostPath
        options.volumeSize = volumeSize
        options.waitImage = waitImage
        options.kubectlImage = kubectlImage
        let session = try ComposeSession.open(GlobalOptions.current, services: services)
        let manifests = try session.run { () throws(SwcomposeError) in try session.orchestrator.kubeManifests(options, push: push) }
        let context = session.context
        if strict && !manifests.warnings.isEmpty {
            context.report(manifests.warnings.map { var d = $0; d.severity = .error; return d }, sources: session.loaded.sources)
            Terminal.writeError("nothing written: --strict refuses settings without a Kubernetes form\n")
            throw ExitCode.failure
        }
        context.report(manifests.warnings, sources: session.loaded.sources)
        if let output {
            do { try Files.writeAtomically(output, manifests.yaml, mode: 0o644) } catch {
                Terminal.writeError("error: cannot write \(output): \(error)\n")
                throw ExitCode.failure
            }
        } else {
            Terminal.write(manifests.yaml)
        }
    }
}
