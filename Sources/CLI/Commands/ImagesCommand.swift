import ArgumentParser
import ComposeModel
import Engine

/// The compose verb: the images the project's services use, and whether the store has them.
struct ImagesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "images", abstract: "List the images used by the project's services.")

    @ParentCommand var root: SWCompose

    @Flag(name: [.short, .long], help: "Only show image IDs.")
    var quiet = false

    @Option(help: "Format the output (table, json).")
    var format: String = "table"

    @Argument(help: "Services to list (default: all).")
    var services: [String] = []

    func run() throws {
        let context = ProjectContext(root.global)
        let project = try context.load(context.options(services: services)).project
        let store = StoreContext().store
        var rows: [[String]] = [["SERVICE", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"]]
        var json: [String] = []
        for name in project.serviceNames {
            let service = project.services[name]!
            let reference = service.image.isEmpty ? "\(project.name)-\(name)" : service.image
            let parsed = try? ImageReference(parsing: reference)
            let image = try? store.resolve(reference)
            let repo = parsed?.familiarName ?? reference
            let tag = parsed?.tag ?? ""
            let id = image?.id.short ?? "(missing)"
            let size = image.map { ByteCount.human(store.size(of: $0)) } ?? "-"
            if quiet {
                if let image { print(image.id.short) }
                continue
            }
            rows.append([name, repo, tag, id, size])
            json.append(JSONText.object(["Service": name, "Repository": repo, "Tag": tag, "ID": image?.id.description ?? "", "Size": size]))
        }
        if quiet { return }
        if format == "json" { print("[" + json.joined(separator: ",") + "]") } else { Terminal.write(Table.render(rows)) }
    }
}
