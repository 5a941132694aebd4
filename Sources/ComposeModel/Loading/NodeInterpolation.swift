/// Interpolates every string value of a model and, at the attributes compose-go casts, turns the
/// result into the number or boolean the attribute expects.
struct NodeInterpolator {
    enum Cast { case int, float, bool }

    let interpolator: Interpolator
    var diagnostics = DiagnosticBag()
    /// Variables read without a value, where the read happened.
    var unset: [(String, SourceLocation)] = []

    init(interpolator: Interpolator) {
        self.interpolator = interpolator
    }

    static func cast(for path: [String]) -> Cast? {
        if path.count == 3, ["networks", "volumes", "secrets", "configs"].contains(path[0]) {
            switch (path[0], path[2]) {
            case (_, "external"): return .bool
            case ("networks", "internal"), ("networks", "attachable"), ("networks", "enable_ipv6"): return .bool
            default: return nil
            }
        }
        guard path.count >= 3, path[0] == "services" else { return nil }
        let rest = Array(path[2...])
        switch rest {
        case ["cpu_count"], ["cpu_period"], ["cpu_quota"], ["cpu_rt_period"], ["cpu_rt_runtime"], ["cpu_shares"],
             ["oom_score_adj"], ["pids_limit"], ["scale"], ["deploy", "replicas"],
             ["deploy", "update_config", "parallelism"], ["deploy", "rollback_config", "parallelism"],
             ["deploy", "restart_policy", "max_attempts"], ["deploy", "placement", "max_replicas_per_node"],
             ["healthcheck", "retries"], ["ports", "[]", "target"]:
            return .int
        case ["cpu_percent"], ["cpus"], ["deploy", "update_config", "max_failure_ratio"], ["deploy", "rollback_config", "max_failure_ratio"]:
            return .float
        case ["init"], ["healthcheck", "disable"], ["oom_kill_disable"], ["privileged"], ["read_only"], ["stdin_open"], ["tty"],
             ["volumes", "[]", "read_only"], ["volumes", "[]", "volume", "nocopy"]:
            return .bool
        default:
            if rest.first == "ulimits" && (rest.count == 2 || (rest.count == 3 && (rest[2] == "soft" || rest[2] == "hard"))) {
                return .int
            }
            return nil
        }
    }

    static func display(_ path: [String]) -> String {
        var out = ""
        for p in path {
            if p.hasPrefix("[") { out += p } else { out += out.isEmpty ? p : "." + p }
        }
        return out
    }

    mutating func interpolate(_ node: inout Node, path: [String] = [], display: [String] = []) {
        switch node.kind {
        case .string(let s):
            let value: String
            do {
                value = try interpolator.substitute(s)
            } catch {
                let where_ = Self.display(display)
                switch error {
                case .invalidTemplate:
                    diagnostics.error("\(where_): \(error.message); \(error.hint ?? "")", at: node.location)
                case .missingRequired:
                    diagnostics.error("\(where_): \(error.message)", at: node.location)
                }
                return
            }
            node.kind = .string(value)
            if let cast = Self.cast(for: path) { apply(cast, value, to: &node, display: display) }
        case .mapping(var entries):
            node.kind = .null
            for i in entries.indices {
                interpolate(&entries[i].value, path: path + [entries[i].key], display: display + [entries[i].key])
            }
            node.kind = .mapping(entries)
        case .sequence(var items):
            node.kind = .null
            for i in items.indices {
                interpolate(&items[i], path: path + ["[]"], display: display + ["[\(i)]"])
            }
            node.kind = .sequence(items)
        default:
            break
        }
    }

    mutating func apply(_ cast: Cast, _ value: String, to node: inout Node, display: [String]) {
        let where_ = Self.display(display)
        switch cast {
        case .int:
            if let i = Int64(value) { node.kind = .int(i) } else {
                diagnostics.error("\(where_) must be an integer, not '\(value)'", at: node.location)
            }
        case .float:
            if let f = Double(value) { node.kind = .float(f) } else {
                diagnostics.error("\(where_) must be a number, not '\(value)'", at: node.location)
            }
        case .bool:
            switch value.lowercased() {
            case "true": node.kind = .bool(true)
            case "false": node.kind = .bool(false)
            case "y", "yes", "on":
                diagnostics.warning("\(where_): \"\(value)\" for a boolean is not YAML 1.2; write true", at: node.location)
                node.kind = .bool(true)
            case "n", "no", "off":
                diagnostics.warning("\(where_): \"\(value)\" for a boolean is not YAML 1.2; write false", at: node.location)
                node.kind = .bool(false)
            default:
                diagnostics.error("\(where_) must be true or false, not '\(value)'", at: node.location)
            }
        }
    }
}
