import ArgumentParser
import ComposeModel
import Engine

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Manage images in swcompose's image store.",
        subcommands: [ImageLoad.self, ImageImport.self, ImageList.self, ImageInspect.self, ImageRemove.self,
                      ImagePrune.self, ImageTag.self, ImageSave.self, ImagePull.self, ImagePush.self, ImageBuild.self, ImageHistory.self]
    )
}

/// The image store of `$SWCOMPOSE_ROOT`, with failures printed as `error: …` and exit 1.
struct StoreContext {
    let root: StateRoot
    let store: ImageStore

    init() {
        root = StateAccess.root()
        store = ImageStore(root: root)
    }

    func run<T>(_ body: () throws(ImageStoreError) -> T) throws -> T {
        do {
            return try body()
        } catch {
            Terminal.writeError("error: \(error)\n")
            throw ExitCode.failure
        }
    }

    func usedBy(_ id: Digest) -> [String] { ContainerUsage.containers(using: id, root: root) }
}

struct ImageLoad: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "load", abstract: "Load images from a docker save or OCI archive.")

    @Option(name: [.short, .customLong("input")], help: ArgumentHelp("Read from this archive instead of standard input.", valueName: "FILE"))
    var input: String?

    @Flag(name: [.short, .long], help: "Don't print what was loaded.")
    var quiet = false

    func run() throws {
        let context = StoreContext()
        let loaded = try context.run { () throws(ImageStoreError) in try context.store.load(path: input) }
        guard !quiet else { return }
        for image in loaded {
            if image.references.isEmpty {
                print("Loaded image ID: \(image.image.id)")
            }
            for ref in image.references { print("Loaded image: \(ref.familiar)") }
        }
    }
}

struct ImageImport: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "import", abstract: "Import a root filesystem tarball as a one-layer image.")

    @Option(name: [.short, .long], help: ArgumentHelp("Apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR).", valueName: "INSTRUCTION"))
    var change: [String] = []

    @Option(name: [.short, .long], help: "Commit message for the imported image.")
    var message: String?

    @Argument(help: "The tarball (- for standard input).")
    var file: String

    @Argument(help: "Name for the image.")
    var reference: String?

    func run() throws {
        let context = StoreContext()
        var ref: ImageReference?
        if let reference {
            do { ref = try ImageReference(parsing: reference) } catch {
                Terminal.writeError("error: \(error)\n")
                throw ExitCode.failure
            }
        }
        let image = try context.run { () throws(ImageStoreError) in
            try context.store.importRootFilesystem(path: file == "-" ? nil : file, reference: ref, changes: change, message: message)
        }
        print(image.id)
    }
}

struct ImageList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List images.", aliases: ["list"])

    @Flag(name: [.short, .long], help: "Only show image IDs.")
    var quiet = false

    @Option(help: "Format the output (table, json).")
    var format: String = "table"

    @Argument(help: "Only list images of this repository.")
    var repository: String?

    func run() throws {
        let context = StoreContext()
        let images = try context.run { () throws(ImageStoreError) in try context.store.list() }
        var rows: [(repo: String, tag: String, image: ImageRecord)] = []
        for image in images {
            if image.references.isEmpty { rows.append(("<none>", "<none>", image)) }
            for ref in image.references {
                // A pulled image is also named by its digest (`name@sha256:…`): a row of its own only
                // when no tag of that repository names it, as docker lists it.
                if ref.tag == nil, image.references.contains(where: { $0.tag != nil && $0.name == ref.name }) { continue }
                rows.append((ref.familiarName, ref.tag ?? "<none>", image))
            }
        }
        if let repository, let wanted = try? ImageReference(parsing: repository, defaultTag: false) {
            rows = rows.filter { row in
                guard let r = try? ImageReference(parsing: row.repo, defaultTag: false) else { return false }
                return r.name == wanted.name && (wanted.tag == nil || wanted.tag == row.tag)
            }
        }
        rows.sort { ($0.image.created ?? "", $0.repo, $0.tag) > ($1.image.created ?? "", $1.repo, $1.tag) }
        if quiet {
            var seen = Set<Digest>()
            for row in rows where seen.insert(row.image.id).inserted { print(row.image.id.short) }
            return
        }
        if format == "json" {
            for row in rows {
                let created = row.image.created.flatMap(Timestamp.parse)
                let object: [String: String] = [
                    "ID": row.image.id.short, "Repository": row.repo, "Tag": row.tag,
                    "CreatedAt": row.image.created ?? "", "CreatedSince": created.map { Timestamp.ago($0) } ?? "N/A",
                    "Size": ByteCount.human(context.store.size(of: row.image)), "Digest": row.image.manifestDigest.description,
                ]
                print(JSONText.object(object))
            }
            return
        }
        var table: [[String]] = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]]
        for row in rows {
            let created = row.image.created.flatMap(Timestamp.parse).map { Timestamp.ago($0) } ?? "N/A"
            table.append([row.repo, row.tag, row.image.id.short, created, ByteCount.human(context.store.size(of: row.image))])
        }
        Terminal.write(Table.render(table))
    }
}

struct ImageInspect: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show an image's configuration, layers, digests and size as JSON.")

    @Argument(help: "Images (name or ID).")
    var images: [String]

    func run() throws {
        let context = StoreContext()
        var documents: [GoValue] = []
        for name in images {
            let image = try context.run { () throws(ImageStoreError) in try context.store.resolve(name) }
            documents.append(ImageInspection(image: image, store: context.store).value)
        }
        print(JSONEmitter.emit(.list(documents)))
    }
}

struct ImageRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove images (refused while a container uses them).", aliases: ["remove", "rmi"])

    @Flag(name: [.short, .long], help: "Remove even if a container uses the image.")
    var force = false

    @Argument(help: "Images (name or ID).")
    var images: [String]

    func run() throws {
        let context = StoreContext()
        var failed = false
        for name in images {
            do {
                let removal = try context.store.remove(name, force: force, usedBy: context.usedBy)
                for ref in removal.untagged { print("Untagged: \(ref.familiar)") }
                for id in removal.deleted { print("Deleted: \(id)") }
            } catch {
                Terminal.writeError("error: \(error)\n")
                failed = true
            }
        }
        if failed { throw ExitCode.failure }
    }
}

struct ImagePrune: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove unused images, blobs and unpacked layers.")

    @Flag(name: [.short, .long], help: "Remove all images no container uses, not only unnamed ones.")
    var all = false

    @Flag(name: [.short, .long], help: "Don't ask for confirmation (swcompose never asks).")
    var force = false

    func run() throws {
        let context = StoreContext()
        let inUse = ContainerUsage.imagesInUse(root: context.root)
        let report = try context.run { () throws(ImageStoreError) in
            try context.store.prune(all: all, usedBy: { inUse.contains($0.description) ? ["in use"] : [] })
        }
        for ref in report.untagged { print("untagged: \(ref.familiar)") }
        for id in report.deletedImages { print("deleted: \(id)") }
        print("Removed \(report.blobs) blobs and \(report.layers) unpacked layers. Total reclaimed space: \(ByteCount.human(report.reclaimed))")
    }
}

struct ImageTag: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tag", abstract: "Give an image another name.")

    @Argument(help: "The image (name or ID).")
    var source: String

    @Argument(help: "The new name.")
    var target: String

    func run() throws {
        let context = StoreContext()
        try context.run { () throws(ImageStoreError) in try context.store.tag(source, target) }
    }
}

struct ImageSave: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "save", abstract: "Save images to a docker save archive (loadable by docker).")

    @Option(name: [.short, .long], help: ArgumentHelp("Write to this file instead of standard output.", valueName: "FILE"))
    var output: String?

    @Argument(help: "Images (name or ID).")
    var images: [String]

    func run() throws {
        let context = StoreContext()
        if output == nil && Terminal.isTTY(1) {
            Terminal.writeError("error: refusing to write an archive to a terminal; use -o FILE or redirect the output\n")
            throw ExitCode.failure
        }
        try context.run { () throws(ImageStoreError) in try context.store.save(images, to: output) }
    }
}
