/// Which containers use an image, read from the container records (`containers/<id>/container.json`).
public enum ContainerUsage {
    struct Minimal: Decodable {
        var name: String
        var imageID: String
    }

    /// Names of the containers whose image is `imageID`.
    public static func containers(using imageID: Digest, root: StateRoot) -> [String] {
        var names: [String] = []
        for id in (try? Sys.list(root.containers)) ?? [] {
            guard let bytes = try? Files.read("\(root.containers)/\(id)/container.json"),
                  let record = try? JSON.decode(Minimal.self, bytes) else { continue }
            if record.imageID == imageID.description { names.append(record.name) }
        }
        return names.sorted()
    }

    /// Every image ID some container uses.
    public static func imagesInUse(root: StateRoot) -> Set<String> {
        var ids: Set<String> = []
        for id in (try? Sys.list(root.containers)) ?? [] {
            if let bytes = try? Files.read("\(root.containers)/\(id)/container.json"),
               let record = try? JSON.decode(Minimal.self, bytes) {
                ids.insert(record.imageID)
            }
        }
        return ids
    }
}
