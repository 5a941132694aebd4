import ArgumentParser
import Engine
import Scheduler
#if canImport(Glibc)
import Glibc
#endif

struct CopyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cp", abstract: "Copy files/folders between a service container and the local filesystem.",
        usage: "swcompose cp [OPTIONS] SERVICE:SRC_PATH DEST_PATH|-\nswcompose cp [OPTIONS] SRC_PATH|- SERVICE:DEST_PATH")

    @ParentCommand var root: SWCompose

    @Flag(name: [.short, .long], help: "Archive mode (copy all uid/gid information).")
    var archive = false

    @Flag(name: [.customShort("L"), .long], help: "Always follow symbol link in SRC_PATH.")
    var followLink = false

    @Option(help: "Index of the container if service has multiple replicas.")
    var index: Int = 1

    @Argument(help: "SERVICE:SRC_PATH or SRC_PATH.")
    var source: String

    @Argument(help: "DEST_PATH or SERVICE:DEST_PATH.")
    var destination: String

    /// `SERVICE:PATH` — a path that starts with `/` or `.` is local even with a colon in it, as in docker.
    static func split(_ argument: String) -> (service: String, path: String)? {
        guard !argument.hasPrefix("/"), !argument.hasPrefix("."), let colon = argument.firstIndex(of: ":") else { return nil }
        return (String(argument[..<colon]), String(argument[argument.index(after: colon)...]))
    }

    func run() throws {
        let from = Self.split(source), to = Self.split(destination)
        if from != nil && to != nil { fail("copying between services is not supported") }
        guard let (service, path) = from ?? to else { fail("one of the paths must name a service's container, as SERVICE:PATH") }
        let local = from != nil ? destination : source
        let session = try ComposeSession.open(root.global, services: [service])
        let record = try session.container(service, index: index)
        let containerPath = path.hasPrefix("/") ? path : "/" + path
        try session.mutate { () throws(SwcomposeError) in
            let tree: ContainerTree
            do throws(SystemError) { tree = try ContainerTree.open(record, runtime: session.runtime) } catch {
                throw error.wrapped("cannot open the filesystem of \(record.name)")
            }
            if let mount = tree.unmountedMount(holding: containerPath) {
                throw SwcomposeError(.failedPrecondition, "\(record.name) is not running, so \(mount) (a volume or bind mount) is not mounted",
                                     hint: "start the service first, or copy into the volume's own directory")
            }
            let options = ContainerCopy.Options(archive: archive, followLink: followLink,
                                                owner: from != nil ? (getuid(), getgid()) : (0, 0))
            do throws(ContainerCopy.Failure) {
                if from != nil && destination == "-" {
                    if Terminal.isTTY(1) { throw ContainerCopy.Failure("refusing to write a tar archive to a terminal: redirect the output") }
                    let scratch = TemporaryScratch()
                    defer { scratch.remove() }
                    try ContainerCopy.writeTar(from: tree, containerPath, to: 1, scratch: scratch.path, followLink: followLink)
                } else if source == "-" {
                    let reader: ArchiveReader
                    do throws(ArchiveError) { reader = try ArchiveReader(fd: 0, label: "standard input") } catch { throw ContainerCopy.Failure(error.description) }
                    try ContainerCopy.extract(reader, into: tree, at: containerPath, options: options)
                } else if from != nil {
                    try ContainerCopy.copy(from: .container(tree), containerPath, to: .host, local, options: options)
                } else {
                    try ContainerCopy.copy(from: .host, local, to: .container(tree), containerPath, options: options)
                }
            } catch {
                throw SwcomposeError(.system, "cp: \(error.description)")
            }
        }
    }

    func fail(_ message: String) -> Never {
        Terminal.writeError("error: \(message)\n")
        Glibc.exit(1)
    }
}

/// A scratch directory of this command's in /var/tmp, removed when it is done.
final class TemporaryScratch {
    let path: String
    init() {
        var template = Array("/var/tmp/swcompose-cp-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!).map { String(cString: $0) } } ?? "/var/tmp/swcompose-cp-\(getpid())"
        if !Sys.exists(path) { try? Sys.mkdir(path, 0o700) }
    }
    func remove() { try? Sys.removeAll(path) }
}
