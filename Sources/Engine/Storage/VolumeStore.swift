#if canImport(Glibc)
import Glibc
#endif

/// A named volume: `volumes/<name>/_data` with its record in `volumes/<name>/meta.json`.
public struct VolumeRecord: Codable, Sendable, Equatable {
    public var name: String
    public var driver: String = "local"
    public var labels: [String: String] = [:]
    public var options: [String: String] = [:]
    public var createdAt: String = ""
    /// Made for an anonymous `volumes:` entry (removed with its container by `rm -v` and `down -v`).
    public var anonymous = false

    public init(name: String) { self.name = name }
}

public enum VolumeStoreError: Error, Sendable, CustomStringConvertible {
    case notFound(String)
    case invalidName(String)
    case inUse(String, containers: [String])
    case invalidOptions(String)
    case system(SystemError)

    public var description: String {
        switch self {
        case .notFound(let n): return "no such volume: \(n)"
        case .invalidName(let n): return "invalid volume name \"\(n)\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        case .inUse(let n, let c): return "volume \(n) is in use by container\(c.count == 1 ? "" : "s") \(c.joined(separator: ", "))"
        case .invalidOptions(let m): return m
        case .system(let e): return e.description
        }
    }
}

public struct VolumeStore: Sendable {
    public let root: StateRoot

    public init(root: StateRoot) { self.root = root }

    public func directory(_ name: String) -> String { root.volumes + "/" + name }
    public func dataPath(_ name: String) -> String { directory(name) + "/_data" }

    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.count >= 2 || name.count == 1 else { return false }
        func ok(_ c: Unicode.Scalar, first: Bool) -> Bool {
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || (!first && (c == "_" || c == "." || c == "-"))
        }
        return ok(first, first: true) && name.unicodeScalars.dropFirst().allSatisfy { ok($0, first: false) }
    }

    public func exists(_ name: String) -> Bool { Sys.exists(directory(name) + "/meta.json") }

    /// Creates the volume if it does not exist; returns its record either way.
    @discardableResult
    public func create(_ name: String, labels: [String: String] = [:], options: [String: String] = [:],
                       anonymous: Bool = false) throws(VolumeStoreError) -> VolumeRecord {
        guard Self.isValidName(name) else { throw .invalidName(name) }
        if let existing = try? inspect(name) { return existing }
        do {
            try root.ensure(root.volumes)
            let lock = try FileLock(root.volumes + "/.lock")
            defer { _ = lock }
            if let existing = try? inspect(name) { return existing }
            try root.ensure(directory(name))
            try Sys.mkdir(dataPath(name), 0o755)
            var record = VolumeRecord(name: name)
            record.labels = labels
            record.options = options
            record.anonymous = anonymous
            record.createdAt = Timestamp.rfc3339(nanoseconds: false)
            try write(record)
            return record
        } catch {
            throw .system(error)
        }
    }

    func write(_ record: VolumeRecord) throws(SystemError) {
        let bytes: [UInt8]
        do { bytes = try JSON.encode(record) } catch { throw SystemError("encode volume", record.name, code: EINVAL) }
        try Files.writeAtomically(directory(record.name) + "/meta.json", bytes)
    }

    public func inspect(_ name: String) throws(VolumeStoreError) -> VolumeRecord {
        guard let bytes = try? Files.read(directory(name) + "/meta.json"),
              let record = try? JSON.decode(VolumeRecord.self, bytes) else { throw .notFound(name) }
        return record
    }

    public func list() -> [VolumeRecord] {
        ((try? Sys.list(root.volumes)) ?? []).sorted().compactMap { try? inspect($0) }
    }

    /// Containers (by name) with the volume mounted.
    public func users(_ name: String, containers: ContainerStore) -> [String] {
        containers.list().filter { $0.spec.mounts.contains { $0.kind == .volume && $0.source == name } }.map(\.name).sorted()
    }

    public func remove(_ name: String, containers: ContainerStore, force: Bool = false) throws(VolumeStoreError) {
        guard exists(name) else { throw .notFound(name) }
        let users = users(name, containers: containers)
        if !users.isEmpty && !force { throw .inUse(name, containers: users) }
        unmount(name)
        do { try Sys.removeAll(directory(name)) } catch { throw .system(error) }
    }

    // MARK: - The local driver's options

    /// What `driver_opts` of the local driver mount at the volume's data directory: `type` (a
    /// filesystem, `none` with `o: bind`, `tmpfs`), `device` (what to mount), `o` (mount options).
    public struct MountOptions: Sendable, Equatable {
        public var type: String
        public var device: String
        public var flags: UInt
        public var data: String

        /// The options docker's local driver takes; nil when the volume has none (a plain directory).
        public init?(_ options: [String: String]) throws(VolumeStoreError) {
            guard !options.isEmpty else { return nil }
            for key in options.keys where !["type", "device", "o"].contains(key) {
                throw .invalidOptions("invalid option key: \"\(key)\" (the local driver takes type, device and o)")
            }
            type = options["type"] ?? ""
            device = options["device"] ?? ""
            guard !device.isEmpty || type == "tmpfs" else { throw .invalidOptions("a volume with driver options needs a device") }
            var flags: UInt = 0
            var data: [String] = []
            for option in (options["o"] ?? "").split(separator: ",").map(String.init) where !option.isEmpty {
                if let flag = Self.flags[option] { flags |= flag } else { data.append(option) }
            }
            self.flags = flags
            self.data = data.joined(separator: ",")
        }

        /// Mount flags by their `mount -o` names (what is not among them goes to the filesystem).
        static let flags: [String: UInt] = [
            "ro": UInt(MS_RDONLY), "rw": 0, "nosuid": UInt(MS_NOSUID), "suid": 0, "nodev": UInt(MS_NODEV), "dev": 0,
            "noexec": UInt(MS_NOEXEC), "exec": 0, "sync": UInt(MS_SYNCHRONOUS), "async": 0, "noatime": UInt(MS_NOATIME),
            "nodiratime": UInt(MS_NODIRATIME), "relatime": UInt(MS_RELATIME), "strictatime": UInt(MS_STRICTATIME),
            "bind": UInt(MS_BIND), "rbind": UInt(MS_BIND) | UInt(MS_REC), "dirsync": UInt(MS_DIRSYNC), "mand": UInt(MS_MANDLOCK),
        ]
    }

    /// Whether the volume's data directory is a mount point (its driver options are mounted).
    public func isMounted(_ name: String) -> Bool {
        Sys.isMountPoint(dataPath(name))
    }

    /// Mounts what the volume's driver options name at its data directory, in the host's mount
    /// namespace, unless it is mounted already: done when a container that uses it starts, so that
    /// every container of it sees the same filesystem (a tmpfs, a device, a bind of a host directory).
    public func mountIfConfigured(_ name: String) throws(VolumeStoreError) {
        let record = try inspect(name)
        guard let o = try MountOptions(record.options), !isMounted(name) else { return }
        do throws(SystemError) {
            if o.flags & UInt(MS_BIND) != 0 {
                guard Sys.exists(o.device) else { throw SystemError("mount", o.device, code: ENOENT) }
                try Sys.mount(source: o.device, target: dataPath(name), type: nil, flags: o.flags, data: nil)
                if o.flags & UInt(MS_RDONLY) != 0 { try Sys.remountReadOnly(dataPath(name), recursive: false) }
            } else {
                try Sys.mount(source: o.device.isEmpty ? o.type : o.device, target: dataPath(name), type: o.type,
                              flags: o.flags, data: o.data.isEmpty ? nil : o.data)
            }
        } catch {
            throw .system(SystemError("mount volume \(name) (\(o.type) \(o.device))", code: error.code))
        }
    }

    /// Unmounts a volume's driver options (when the last container that used it stopped).
    public func unmount(_ name: String) {
        if isMounted(name) { try? Sys.unmount(dataPath(name), flags: Int32(MNT_DETACH)) }
    }

    /// Whether the volume was mounted once already: a new volume is filled from the image at its first
    /// mount only (docker's copy-up). The start helper leaves `_initialized` beside `_data`.
    public func isInitialized(_ name: String) -> Bool { Sys.exists(directory(name) + "/_initialized") }
}
