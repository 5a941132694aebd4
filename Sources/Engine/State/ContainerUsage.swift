/// Which containers use an image, read from the container records (`containers/<id>/config.json`).
public enum ContainerUsage {
    struct Minimal: Decodable {
        struct Image: Decodable { var id: String }
        struct Mount: Decodable {
            var kind: String
            var source: String
        }
        var name: String
        var image: Image
        var mounts: [Mount]?

        /// Its image and the images it mounts.
        var images: [String] { [image.id] + (mounts ?? []).filter { $0.kind == "image" }.map(\.source) }
    }

    static func records(root: StateRoot) -> [Minimal] {
        var result: [Minimal] = []
        for id in (try? Sys.list(root.containers)) ?? [] {
            if let bytes = try? Files.read("\(root.containers)/\(id)/config.json"),
               let record = try? JSON.decode(Minimal.self, bytes) {
                result.append(record)
            }
        }
        return result
    }

    /// Names of the containers whose image is `imageID`.
    public static func containers(using imageID: Digest, root: StateRoot) -> [String] {
        records(root: root).filter { $0.images.contains(imageID.description) }.map(\.name).sorted()
    }

    /// Every image ID some container uses.
    public static func imagesInUse(root: StateRoot) -> Set<String> {
        Set(records(root: root).flatMap(\.images))
    }
}
