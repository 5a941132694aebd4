/// Where swcompose keeps everything durable: `$SWCOMPOSE_ROOT`, by default `/var/lib/swcompose`.
///
///     images/      OCI layout: oci-layout, index.json, blobs/sha256/…
///     layers/      unpacked layers by chain id
///     containers/  one directory per container
///     volumes/     named volumes
///     networks/    network records
///     projects/    per-project locks and supervisor records
public struct StateRoot: Sendable, Equatable {
    public static let defaultPath = "/var/lib/swcompose"

    public let path: String

    public init(path: String) {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        self.path = p
    }

    /// `$SWCOMPOSE_ROOT` from `environment`, else the default.
    public init(environment: [String: String]) {
        let value = environment["SWCOMPOSE_ROOT"] ?? ""
        self.init(path: value.isEmpty ? Self.defaultPath : value)
    }

    public var images: String { path + "/images" }
    public var layers: String { path + "/layers" }
    public var containers: String { path + "/containers" }
    public var volumes: String { path + "/volumes" }
    public var networks: String { path + "/networks" }
    public var projects: String { path + "/projects" }
}
