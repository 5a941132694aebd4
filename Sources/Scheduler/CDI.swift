#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Engine

/// The Container Device Interface: device vendors' specs (what `nvidia-ctk cdi generate` and
/// `amd-ctk cdi generate` write to /etc/cdi, or a driver writes to /var/run/cdi), each naming
/// devices `vendor.com/class=name` with the edits a container gets for them: device nodes, mounts,
/// environment, hooks, extra groups. dockerd's `cdi` device driver reads the same directories.
struct CDIRegistry {
    /// docker's (and podman's) spec directories, lowest priority first.
    static let defaultDirectories = ["/etc/cdi", "/var/run/cdi"]

    /// `SWCOMPOSE_CDI_SPEC_DIRS` (colon-separated, as dockerd's `cdi-spec-dirs`), else the defaults.
    static var directories: [String] {
        if let value = getenv("SWCOMPOSE_CDI_SPEC_DIRS").map({ String(cString: $0) }), !value.isEmpty {
            return value.split(separator: ":").map(String.init)
        }
        return defaultDirectories
    }

    struct DeviceNodeEdit: Equatable {
        var path: String
        var hostPath: String
        var type: String
        var major: Int64?
        var minor: Int64?
        var fileMode: UInt32?
        var permissions: String
        var uid: UInt32?
        var gid: UInt32?
    }

    struct MountEdit: Equatable {
        var hostPath: String
        var containerPath: String
        var options: [String]
        var type: String
    }

    struct HookEdit: Equatable {
        var name: String
        var hook: OCIHook
    }

    /// What a spec or one of its devices does to a container.
    struct Edits: Equatable {
        var env: [String] = []
        var deviceNodes: [DeviceNodeEdit] = []
        var mounts: [MountEdit] = []
        var hooks: [HookEdit] = []
        var additionalGIDs: [UInt32] = []
    }

    struct Device: Equatable {
        var name: String
        var edits: Edits
    }

    struct Spec: Equatable {
        var file: String
        var kind: String
        /// Applied once when any of its devices is injected.
        var edits: Edits
        var devices: [Device]
        /// The index of its directory (a later one wins over an earlier one).
        var priority: Int
    }

    var directories: [String]
    var specs: [Spec] = []
    /// Spec files that could not be used, with why (reported when a device of theirs is asked for).
    var errors: [(file: String, message: String)] = []

    /// Reads every `*.yaml`, `*.yml` and `*.json` spec of `directories`.
    static func load(directories: [String] = CDIRegistry.directories) -> CDIRegistry {
        var registry = CDIRegistry(directories: directories)
        for (priority, directory) in directories.enumerated() {
            guard let names = try? Sys.list(directory) else { continue }
            for name in names.sorted() where name.hasSuffix(".yaml") || name.hasSuffix(".yml") || name.hasSuffix(".json") {
                let file = directory + "/" + name
                do {
                    registry.specs.append(try parse(Files.readText(file), file: file, priority: priority))
                } catch let error as CDIError {
                    registry.errors.append((file, error.message))
                } catch {
                    registry.errors.append((file, "\(error)"))
                }
            }
        }
        return registry
    }

    struct CDIError: Error, CustomStringConvertible {
        var message: String
        init(_ message: String) { self.message = message }
        var description: String { message }
    }

    /// One spec document (YAML, or JSON, which YAML reads too).
    static func parse(_ text: String, file: String, priority: Int = 0) throws -> Spec {
        let documents: [Node]
        do { documents = try YAMLParser.parse(text, file: file) } catch {
            throw CDIError(error.diagnostics.first?.message ?? "not YAML or JSON")
        }
        guard let root = documents.first, root.isMapping else { throw CDIError("not a CDI spec (a mapping with cdiVersion, kind and devices)") }
        guard let version = root["cdiVersion"]?.scalarText, !version.isEmpty else { throw CDIError("cdiVersion is missing") }
        guard let kind = root["kind"]?.scalarText, let (vendor, cls) = splitKind(kind),
              validVendor(vendor), validClass(cls) else {
            throw CDIError("kind \"\(root["kind"]?.scalarText ?? "")\" is not vendor.com/class")
        }
        let edits = try parseEdits(root["containerEdits"], where: "containerEdits")
        guard let items = root["devices"]?.items, !items.isEmpty else { throw CDIError("it defines no devices") }
        var devices: [Device] = []
        for (i, item) in items.enumerated() {
            guard let name = item["name"]?.scalarText, validDeviceName(name) else {
                throw CDIError("devices[\(i)]: \"\(item["name"]?.scalarText ?? "")\" is not a device name (letters, digits, _ - . :)")
            }
            if devices.contains(where: { $0.name == name }) { throw CDIError("device \(name) is defined twice") }
            let deviceEdits = try parseEdits(item["containerEdits"], where: "devices[\(i)].containerEdits")
            devices.append(Device(name: name, edits: deviceEdits))
        }
        return Spec(file: file, kind: kind, edits: edits, devices: devices, priority: priority)
    }

    static func parseEdits(_ node: Node?, where path: String) throws -> Edits {
        var edits = Edits()
        guard let node, !node.isNull else { return edits }
        guard node.isMapping else { throw CDIError("\(path) must be a mapping") }
        for entry in node.entries ?? [] {
            let value = entry.value
            switch entry.key {
            case "env":
                edits.env = (value.items ?? []).compactMap(\.scalarText)
            case "deviceNodes":
                for (i, d) in (value.items ?? []).enumerated() { edits.deviceNodes.append(try deviceNode(d, where: "\(path).deviceNodes[\(i)]")) }
            case "mounts":
                for (i, m) in (value.items ?? []).enumerated() { edits.mounts.append(try mount(m, where: "\(path).mounts[\(i)]")) }
            case "hooks":
                for (i, h) in (value.items ?? []).enumerated() { edits.hooks.append(try hook(h, where: "\(path).hooks[\(i)]")) }
            case "additionalGids", "additionalGIDs":
                edits.additionalGIDs = gids(value)
            case "intelRdt":
                throw CDIError("\(path).intelRdt: Intel RDT classes are not supported by swcompose")
            case "netDevices":
                throw CDIError("\(path).netDevices: moving host network devices into containers is not supported by swcompose")
            default:
                continue
            }
        }
        return edits
    }

    @inline(never)
    static func gids(_ node: Node) -> [UInt32] {
        var out: [UInt32] = []
        for item in node.items ?? [] {
            if let n = item.intValue { out.append(UInt32(truncatingIfNeeded: n)) }
        }
        return out
    }

    // (Out of line: Swift 6.3.1's optimizer crashes on parseEdits with these inlined into it.)

    /// A number written as YAML's integer or as a string of one (spec files have both).
    @inline(never)
    static func number(_ node: Node?) -> Int64? {
        guard let node else { return nil }
        if let value = node.intValue { return value }
        return node.scalarText.flatMap { Int64($0) }
    }

    @inline(never)
    static func deviceNode(_ d: Node, where path: String) throws -> DeviceNodeEdit {
        guard let p = d["path"]?.scalarText, p.hasPrefix("/") else { throw CDIError("\(path): path must be absolute") }
        let fileMode = number(d["fileMode"]).map { UInt32(truncatingIfNeeded: $0) }
        let uid = number(d["uid"]).map { UInt32(truncatingIfNeeded: $0) }
        let gid = number(d["gid"]).map { UInt32(truncatingIfNeeded: $0) }
        return DeviceNodeEdit(path: p, hostPath: d["hostPath"]?.scalarText ?? p, type: d["type"]?.scalarText ?? "",
                              major: number(d["major"]), minor: number(d["minor"]), fileMode: fileMode,
                              permissions: d["permissions"]?.scalarText ?? "", uid: uid, gid: gid)
    }

    @inline(never)
    static func mount(_ m: Node, where path: String) throws -> MountEdit {
        guard let host = m["hostPath"]?.scalarText, let target = m["containerPath"]?.scalarText, target.hasPrefix("/") else {
            throw CDIError("\(path): hostPath and an absolute containerPath are required")
        }
        return MountEdit(hostPath: host, containerPath: target, options: (m["options"]?.items ?? []).compactMap(\.scalarText),
                         type: m["type"]?.scalarText ?? "")
    }

    @inline(never)
    static func hook(_ h: Node, where path: String) throws -> HookEdit {
        guard let name = h["hookName"]?.scalarText, let p = h["path"]?.scalarText, p.hasPrefix("/") else {
            throw CDIError("\(path): hookName and an absolute path are required")
        }
        guard ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"].contains(name) else {
            throw CDIError("\(path): unknown hookName \"\(name)\"")
        }
        let timeout = number(h["timeout"]).map(Int.init)
        return HookEdit(name: name, hook: OCIHook(path: p, args: (h["args"]?.items ?? []).compactMap(\.scalarText),
                                                 env: (h["env"]?.items ?? []).compactMap(\.scalarText), timeout: timeout))
    }

    // MARK: - Names

    /// `vendor.com/class=name` → its three parts, when it is a CDI qualified device name (what
    /// docker compose reads `devices:` entries as).
    static func parseQualified(_ text: String) -> (vendor: String, cls: String, name: String)? {
        guard let eq = text.firstIndex(of: "="), let (vendor, cls) = splitKind(String(text[..<eq])) else { return nil }
        let name = String(text[text.index(after: eq)...])
        guard validVendor(vendor), validClass(cls), validDeviceName(name) else { return nil }
        return (vendor, cls, name)
    }

    static func isQualifiedName(_ text: String) -> Bool { parseQualified(text) != nil }

    static func splitKind(_ kind: String) -> (String, String)? {
        let parts = kind.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    static func isAlnum(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }

    /// The rules of the CDI parser: a vendor starts with a letter, ends with a letter or digit, and has
    /// letters, digits, `_`, `-`, `.` between; a class the same without dots; a device name may also
    /// start with a digit and hold `:`.
    static func validVendor(_ s: String) -> Bool {
        guard let f = s.first, f.isASCII, f.isLetter, let l = s.last, isAlnum(l) else { return false }
        return s.allSatisfy { isAlnum($0) || "_-.".contains($0) }
    }

    static func validClass(_ s: String) -> Bool {
        guard let f = s.first, f.isASCII, f.isLetter, let l = s.last, isAlnum(l) else { return false }
        return s.allSatisfy { isAlnum($0) || "_-".contains($0) }
    }

    static func validDeviceName(_ s: String) -> Bool {
        guard let f = s.first, isAlnum(f), let l = s.last, isAlnum(l) else { return false }
        return s.allSatisfy { isAlnum($0) || "_-.:".contains($0) }
    }

    // MARK: - Lookup

    /// The spec defining `kind=name`: the one of the highest-priority directory; two specs of the same
    /// directory defining it is an error, as the CDI registry's conflict.
    func resolve(_ qualified: String) throws(CDIError) -> (spec: Spec, device: Device)? {
        guard let (vendor, cls, name) = Self.parseQualified(qualified) else { return nil }
        let kind = vendor + "/" + cls
        var best: [(Spec, Device)] = []
        for spec in specs where spec.kind == kind {
            guard let device = spec.devices.first(where: { $0.name == name }) else { continue }
            if let top = best.first?.0.priority, top > spec.priority { continue }
            if let top = best.first?.0.priority, top < spec.priority { best = [] }
            best.append((spec, device))
        }
        if best.count > 1 {
            throw CDIError("conflicting definitions of \(qualified) in \(best.map(\.0.file).joined(separator: " and "))")
        }
        return best.first.map { ($0.0, $0.1) }
    }

    /// Every device name of `kind`, in the order its specs list them (without duplicates).
    func deviceNames(kind: String) -> [String] {
        var seen: Set<String> = []
        var names: [String] = []
        for spec in specs.sorted(by: { $0.priority > $1.priority }) where spec.kind == kind {
            for d in spec.devices where seen.insert(d.name).inserted { names.append(d.name) }
        }
        return names
    }

    func hasKind(_ kind: String) -> Bool { specs.contains { $0.kind == kind } }

    /// The spec files that failed to load, for messages.
    var errorSummary: String {
        errors.isEmpty ? "" : " (unusable specs: " + errors.map { "\($0.file): \($0.message)" }.joined(separator: "; ") + ")"
    }
}

/// A GPU family reached through its vendor's CDI specs, standing in for dockerd's `nvidia` and `amd`
/// device drivers (which run the vendors' runtime hooks; CDI is how the same toolkits describe the
/// devices to every runtime now).
struct GPUVendor {
    var driver: String
    var kind: String
    /// The capabilities dockerd's driver of that name matches (`gpu`, and its own).
    var capabilities: Set<String>
    var install: String

    static let all = [
        GPUVendor(driver: "nvidia", kind: "nvidia.com/gpu",
                  capabilities: ["gpu", "nvidia", "compute", "compat32", "graphics", "utility", "video", "display"],
                  install: "install the NVIDIA Container Toolkit and run `nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`"),
        GPUVendor(driver: "amd", kind: "amd.com/gpu", capabilities: ["gpu", "amd"],
                  install: "install the AMD Container Toolkit and run `amd-ctk cdi generate --output=/etc/cdi/amd.json`"),
    ]
}

extension ContainerPlanner {
    /// One device request (`gpus:`, `deploy.resources.reservations.devices`, or the CDI names of
    /// `devices:`) as the CDI device names it injects, chosen as dockerd chooses its device driver.
    func cdiDeviceNames(_ request: DeviceRequest, registry: CDIRegistry, key: String, at location: SourceLocation?) throws(PlanError) -> [String] {
        let capabilities = request.capabilities
        func refuse(_ message: String) -> PlanError { PlanError("\(key): \(message)", at: location) }
        if request.driver == "cdi" {
            guard request.count == 0 else {
                throw refuse("a request with driver cdi names its devices in device_ids (CDI names such as vendor.com/class=name), not a count")
            }
            guard request.options.isEmpty else { throw refuse("a request with driver cdi takes no options") }
            for id in request.deviceIDs where !CDIRegistry.isQualifiedName(id) {
                throw refuse("\"\(id)\" is not a CDI device name (vendor.com/class=name)")
            }
            return request.deviceIDs
        }
        let capabilityText = "[[\(capabilities.joined(separator: " "))]]"
        var candidates: [GPUVendor]
        if request.driver.isEmpty {
            candidates = GPUVendor.all.filter { Set(capabilities).isSubset(of: $0.capabilities) }
        } else {
            candidates = GPUVendor.all.filter { $0.driver == request.driver }
            if let vendor = candidates.first, !Set(capabilities).isSubset(of: vendor.capabilities) { candidates = [] }
        }
        guard !candidates.isEmpty else {
            throw refuse("could not select device driver \"\(request.driver)\" with capabilities: \(capabilityText): swcompose injects devices "
                + "through CDI specs (driver cdi with device_ids, or the gpu capability for NVIDIA and AMD GPUs)")
        }
        // dockerd has one GPU driver, the vendor whose toolkit is installed: here, whose CDI spec is.
        guard let vendor = candidates.first(where: { registry.hasKind($0.kind) }) else {
            let wanted = candidates.count == 1 ? candidates[0] : GPUVendor.all[0]
            throw refuse("no CDI specification for \(wanted.kind) devices in \(registry.directories.joined(separator: " or "))\(registry.errorSummary): "
                + (candidates.count == 1 ? wanted.install : candidates.map(\.install).joined(separator: "; or ")))
        }
        let names = registry.deviceNames(kind: vendor.kind)
        if !request.deviceIDs.isEmpty {
            return request.deviceIDs.map { vendor.kind + "=" + $0 }
        }
        switch request.count {
        case 0:
            return []
        case ..<0:
            if names.contains("all") { return [vendor.kind + "=all"] }
            return names.map { vendor.kind + "=" + $0 }
        default:
            // dockerd's count N is the devices 0 … N-1.
            let wanted = (0..<Int(request.count)).map(String.init)
            let missing = wanted.filter { !names.contains($0) }
            guard missing.isEmpty else {
                let have = names.filter { Int($0) != nil }
                throw refuse("\(request.count) GPUs requested, but the CDI specs of \(vendor.kind) define \(have.count): \(have.joined(separator: ", "))")
            }
            return wanted.map { vendor.kind + "=" + $0 }
        }
    }

    /// Applies the service's device requests: each named CDI device's edits (and its spec's, once)
    /// into the container. Refused, naming what to install, when no spec defines a device.
    func applyDeviceRequests(_ service: ServiceConfig, to spec: inout ContainerSpec) throws(PlanError) {
        var requests: [(DeviceRequest, String, SourceLocation?)] = []
        let cdiNames = service.devices.filter { $0.source == $0.target && CDIRegistry.isQualifiedName($0.source) }.map(\.source)
        if !cdiNames.isEmpty {
            var r = DeviceRequest(count: 0)
            r.driver = "cdi"
            r.deviceIDs = cdiNames
            requests.append((r, "devices", service.locations["devices"] ?? service.location))
        }
        for var g in service.gpus {
            // As docker compose: a `gpus:` entry asks for the gpu capability.
            g.capabilities.append("gpu")
            requests.append((g, "gpus", g.location ?? service.locations["gpus"] ?? service.location))
        }
        for d in service.deploy?.reservations?.devices ?? [] {
            requests.append((d, "deploy.resources.reservations.devices", d.location ?? service.locations["deploy"] ?? service.location))
        }
        guard !requests.isEmpty else { return }
        let registry = CDIRegistry.load()
        var injected: [String] = []
        var appliedSpecs: Set<String> = []
        for (request, key, location) in requests {
            for name in try cdiDeviceNames(request, registry: registry, key: key, at: location) where !injected.contains(name) {
                let found: (spec: CDIRegistry.Spec, device: CDIRegistry.Device)?
                do { found = try registry.resolve(name) } catch { throw PlanError("\(key): CDI device \(name): \(error.message)", at: location) }
                guard let found else {
                    let kind = String(name[..<name.firstIndex(of: "=")!])
                    let defined = registry.deviceNames(kind: kind).map { kind + "=" + $0 }
                    let hint = defined.isEmpty
                        ? (GPUVendor.all.first(where: { $0.kind == kind })?.install
                           ?? "install the device vendor's CDI spec (a .yaml or .json file) in \(registry.directories.first ?? "/etc/cdi")")
                        : "the specs define \(defined.joined(separator: ", "))"
                    throw PlanError("\(key): no CDI spec in \(registry.directories.joined(separator: " or ")) defines \(name)\(registry.errorSummary): \(hint)",
                                    at: location)
                }
                injected.append(name)
                if appliedSpecs.insert(found.spec.file).inserted {
                    try apply(found.spec.edits, of: name, to: &spec, key: key, at: location)
                }
                try apply(found.device.edits, of: name, to: &spec, key: key, at: location)
            }
        }
        if !injected.isEmpty { spec.annotations["io.swcompose.cdi-devices"] = injected.joined(separator: ",") }
    }

    /// One set of CDI container edits, as the CDI library applies them to a runtime spec.
    func apply(_ edits: CDIRegistry.Edits, of device: String, to spec: inout ContainerSpec, key: String, at location: SourceLocation?) throws(PlanError) {
        func refuse(_ message: String) -> PlanError { PlanError("\(key): CDI device \(device): \(message)", at: location) }
        for entry in edits.env {
            let name = entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? entry
            if let i = spec.process.env.firstIndex(where: { $0 == name || $0.hasPrefix(name + "=") }) {
                spec.process.env[i] = entry
            } else {
                spec.process.env.append(entry)
            }
        }
        for node in edits.deviceNodes {
            guard let st = try? Sys.fileStatus(node.hostPath, follow: true) else {
                throw refuse("its device node \(node.hostPath) does not exist on this host (is the vendor's driver loaded?)")
            }
            let kind = st.st_mode & S_IFMT
            guard kind == S_IFCHR || kind == S_IFBLK else { throw refuse("\(node.hostPath) is not a device node") }
            let type = kind == S_IFCHR ? "c" : "b"
            if !node.type.isEmpty && node.type != type {
                throw refuse("\(node.hostPath) is a \(type == "c" ? "character" : "block") device, the spec says type \(node.type)")
            }
            let major = node.major ?? Int64(Sys.major(st.st_rdev)), minor = node.minor ?? Int64(Sys.minor(st.st_rdev))
            if major != Int64(Sys.major(st.st_rdev)) || minor != Int64(Sys.minor(st.st_rdev)) {
                throw refuse("\(node.hostPath) is \(Sys.major(st.st_rdev)):\(Sys.minor(st.st_rdev)) on this host, the spec says \(major):\(minor)")
            }
            let permissions = node.permissions.isEmpty ? "rwm" : node.permissions
            guard permissions.allSatisfy({ "rwm".contains($0) }) else { throw refuse("device permissions \"\(permissions)\" are not a subset of rwm") }
            spec.devices.removeAll { $0.containerPath == node.path }
            spec.devices.append(DeviceNode(hostPath: node.hostPath, containerPath: node.path, permissions: permissions,
                                           fileMode: node.fileMode, uid: node.uid, gid: node.gid))
            spec.deviceRules.append(DeviceRule(allow: true, type: Character(type), major: major, minor: minor, access: permissions))
        }
        for m in edits.mounts {
            spec.mounts.removeAll { $0.destination == m.containerPath }
            switch m.type {
            case "", "bind", "rbind":
                guard Sys.exists(m.hostPath) else { throw refuse("its mount source \(m.hostPath) does not exist on this host") }
                var mount = MountSpec(kind: .bind, source: m.hostPath, destination: m.containerPath)
                mount.recursive = m.type == "rbind" || !m.options.contains("bind") || m.options.contains("rbind")
                var flags: [String] = []
                for o in m.options {
                    switch o {
                    case "ro", "rdonly": mount.readOnly = true
                    case "rw", "bind", "rbind": continue
                    case "nosuid", "nodev", "noexec": flags.append(o)
                    case "private", "rprivate", "shared", "rshared", "slave", "rslave": mount.propagation = o
                    case "suid", "dev", "exec", "relatime", "norelatime", "noatime", "strictatime": continue
                    default: throw refuse("mount option \"\(o)\" of \(m.containerPath) is not supported")
                    }
                }
                if !flags.isEmpty { mount.bindFlags = flags }
                spec.mounts.append(mount)
            case "tmpfs":
                var mount = MountSpec(kind: .tmpfs, source: "", destination: m.containerPath)
                mount.tmpfsOptions = m.options
                spec.mounts.append(mount)
            default:
                throw refuse("mounts of type \(m.type) (\(m.containerPath)) are not supported: only bind and tmpfs")
            }
        }
        if !edits.hooks.isEmpty {
            var hooks = spec.hooks ?? OCIHooks()
            for h in edits.hooks {
                switch h.name {
                case "prestart", "createRuntime": hooks.createRuntime.append(h.hook)
                case "createContainer": hooks.createContainer.append(h.hook)
                case "startContainer": hooks.startContainer.append(h.hook)
                case "poststart": hooks.poststart.append(h.hook)
                default: hooks.poststop.append(h.hook)
                }
            }
            spec.hooks = hooks
        }
        for gid in edits.additionalGIDs where gid != 0 && !spec.process.additionalGroups.contains(String(gid)) {
            spec.process.additionalGroups.append(String(gid))
        }
    }
}
