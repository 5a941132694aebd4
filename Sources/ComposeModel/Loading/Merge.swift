/// Merging of compose files (and of `extends` bases) with compose-go's rules: mappings merge key by
/// key, sequences are appended, and some attributes have their own rule — `command`, `entrypoint`
/// and `healthcheck.test` are replaced; `environment`, `labels`, `sysctls`, `extra_hosts`, `dns`… are
/// turned into `KEY=VALUE` lists and appended (duplicates are removed afterwards by `Unicity`);
/// `depends_on` and `networks` merge as mappings whatever form they were written in; `logging` options
/// merge only when the driver is the same; `!reset` removes and `!override` replaces.
enum Merger {
    static func merge(_ base: Node, _ override: Node, path: [String]) -> Node {
        if override.mergeTag == .override { var o = override; o.mergeTag = nil; return o }
        if let special = special(for: path) { return special(base, override, path) }
        if override.isNull { return base }
        switch (base.kind, override.kind) {
        case (.mapping, .mapping):
            return mergeMappings(base, override, path: path)
        case (.sequence(let a), .sequence(let b)):
            var result = base
            result.kind = .sequence(a + b)
            return result
        default:
            return override
        }
    }

    static func mergeMappings(_ base: Node, _ override: Node, path: [String]) -> Node {
        guard case .mapping(var entries) = base.kind, case .mapping(let other) = override.kind else { return override }
        var index: [String: Int] = [:]
        for (i, e) in entries.enumerated() { index[e.key] = i }
        for e in other {
            if e.value.mergeTag == .reset {
                if let i = index[e.key] {
                    entries.remove(at: i)
                    index = [:]
                    for (j, x) in entries.enumerated() { index[x.key] = j }
                }
                continue
            }
            if let i = index[e.key] {
                entries[i].value = merge(entries[i].value, e.value, path: path + [e.key])
            } else {
                var value = e.value
                value.mergeTag = nil
                index[e.key] = entries.count
                entries.append(Node.Entry(key: e.key, keyLocation: e.keyLocation, value: stripTags(value)))
            }
        }
        var result = base
        result.kind = .mapping(entries)
        return result
    }

    /// Removes `!reset` entries and tags from a node that does not merge with anything.
    static func stripTags(_ node: Node) -> Node {
        var n = node
        n.mergeTag = nil
        switch n.kind {
        case .mapping(let entries):
            n.kind = .mapping(entries.filter { $0.value.mergeTag != .reset }.map {
                Node.Entry(key: $0.key, keyLocation: $0.keyLocation, value: stripTags($0.value))
            })
        case .sequence(let items):
            n.kind = .sequence(items.filter { $0.mergeTag != .reset }.map(stripTags))
        default: break
        }
        return n
    }

    typealias Rule = (Node, Node, [String]) -> Node

    static func special(for path: [String]) -> Rule? {
        switch path.count {
        case 3 where path[0] == "networks" && path[2] == "labels",
             3 where path[0] == "volumes" && path[2] == "labels":
            return toSequence
        case 4 where path[0] == "networks" && path[2] == "ipam" && path[3] == "config":
            return mergeIPAMConfig
        default: break
        }
        guard path.count >= 3, path[0] == "services" else { return nil }
        let rest = path[2...]
        switch Array(rest) {
        case ["annotations"], ["build", "args"], ["build", "additional_contexts"], ["build", "labels"],
             ["deploy", "labels"], ["dns"], ["dns_opt"], ["dns_search"], ["env_file"], ["label_file"],
             ["environment"], ["labels"], ["sysctls"], ["tmpfs"]:
            return toSequence
        case ["build", "extra_hosts"], ["extra_hosts"]:
            return mergeExtraHosts
        case ["build"]:
            return mergeBuild
        case ["command"], ["entrypoint"], ["healthcheck", "test"]:
            return { _, o, _ in stripTags(o) }
        case ["depends_on"]:
            return mergeDependsOn
        case ["logging"]:
            return mergeLogging
        case ["models"], ["networks"]:
            return { b, o, p in mergeMappings(asMapping(b), asMapping(o), path: p) }
        default:
            if rest.count == 2 && rest.first == "ulimits" { return mergeUlimit }
            if rest.count == 4 && rest.first == "volumes" && rest.dropFirst(2).elementsEqual(["volume", "labels"]) { return toSequence }
            return nil
        }
    }

    /// A mapping or list turned into a `KEY=VALUE` list (sorted, as Go does when it walks a map).
    static func asSequence(_ node: Node) -> [Node] {
        switch node.kind {
        case .mapping(let entries):
            var items: [Node] = []
            for e in entries {
                switch e.value.kind {
                case .null: items.append(Node(.string(e.key), at: e.keyLocation))
                case .sequence(let values):
                    for v in values { items.append(Node(.string("\(e.key)=\(v.scalarText ?? "")"), at: v.location)) }
                default:
                    items.append(Node(.string("\(e.key)=\(e.value.scalarText ?? "")"), at: e.value.location))
                }
            }
            return items.sorted { $0.text.utf8.lexicographicallyPrecedes($1.text.utf8) }
        case .sequence(let items): return items
        case .string: return [node]
        default: return []
        }
    }

    static func toSequence(_ base: Node, _ override: Node, _ path: [String]) -> Node {
        var result = base
        result.mergeTag = nil
        result.kind = .sequence(asSequence(base) + asSequence(override))
        return result
    }

    static func mergeExtraHosts(_ base: Node, _ override: Node, _ path: [String]) -> Node {
        let right = asSequence(base)
        let rightTexts = Set(right.map(\.text))
        let left = asSequence(override).filter { !rightTexts.contains($0.text) }
        var result = base
        result.kind = .sequence(right + left)
        return result
    }

    static func asMapping(_ node: Node, defaultValue: (SourceLocation) -> Node? = { _ in nil }) -> Node {
        switch node.kind {
        case .mapping: return node
        case .sequence(let items):
            var result = node
            result.kind = .mapping(items.map { item in
                Node.Entry(key: item.text, keyLocation: item.location, value: defaultValue(item.location) ?? Node(.null, at: item.location))
            })
            return result
        default: return node
        }
    }

    static func dependencyDefault(_ at: SourceLocation) -> Node? {
        .mapping([
            Node.Entry(key: "condition", keyLocation: at, value: .string("service_started", at: at)),
            Node.Entry(key: "required", keyLocation: at, value: Node(.bool(true), at: at)),
        ], at: at)
    }

    static func mergeDependsOn(_ base: Node, _ override: Node, _ path: [String]) -> Node {
        mergeMappings(asMapping(base, defaultValue: dependencyDefault), asMapping(override, defaultValue: dependencyDefault), path: path)
    }

    static func mergeBuild(_ base: Node, _ override: Node, _ path: [String]) -> Node {
        func asBuild(_ n: Node) -> Node {
            if case .string = n.kind {
                return .mapping([Node.Entry(key: "context", keyLocation: n.location, value: n)], at: n.location)
            }
            return n
        }
        return mergeMappings(asBuild(base), asBuild(override), path: path)
    }

    static func mergeLogging(_ base: Node, _ override: Node, _ path: [String]) -> Node {
        guard base.isMapping, override.isMapping else { return override }
        let d = override["driver"], o = base["driver"]
        if d == nil || o == nil || d?.scalarText == o?.scalarText {
            return mergeMappings(base, override, path: path)
        }
        return stripTags(override)
    }

    static func mergeUlimit(_ base: Node, _ override: Node, _ path: [String]) -> Node {
        stripTags(override)
    }

    static func mergeIPAMConfig(_ base: Node, _ override: Node, _ path: [String]) -> Node {
        guard let configs = base.items, let overrides = override.items else { return override }
        var result: [Node] = []
        func subnet(_ n: Node) -> String? { n["subnet"]?.scalarText }
        for original in configs {
            for o in overrides {
                if subnet(o) != subnet(original) {
                    if !result.contains(where: { subnet($0) == subnet(o) }) {
                        result.append(o)
                        continue
                    }
                }
                let merged = mergeMappings(original, o, path: path)
                if let i = result.firstIndex(where: { subnet($0) == subnet(merged) }) {
                    result[i] = merged
                } else {
                    result.append(merged)
                }
            }
        }
        var n = base
        n.kind = .sequence(result)
        return n
    }
}

/// Removes repeated entries from the sequences where an entry is identified by a key (a variable
/// name, a mount target, a port binding…): the last definition wins, at the place of the first.
enum Unicity {
    static func enforce(_ node: inout Node, path: [String] = []) {
        switch node.kind {
        case .mapping:
            node.mapValues { key, value in enforce(&value, path: path + [key]) }
        case .sequence(let items):
            guard let indexer = indexer(for: path) else { return }
            var result: [Node] = []
            var positions: [String: Int] = [:]
            for item in items {
                let key = indexer(item)
                if let i = positions[key] {
                    result[i] = item
                } else {
                    positions[key] = result.count
                    result.append(item)
                }
            }
            node.kind = .sequence(result)
        default:
            break
        }
    }

    static func keyValue(_ n: Node) -> String {
        let s = n.text
        if let i = s.firstIndex(of: "=") { return String(s[..<i]) }
        return s
    }

    static func indexer(for path: [String]) -> ((Node) -> String)? {
        if path.count == 3, path[0] == "networks", path[2] == "labels" { return keyValue }
        if path.count == 4, path[0] == "networks", path[2] == "ipam", path[3] == "options" { return keyValue }
        guard path.count >= 3, path[0] == "services" else { return nil }
        let rest = Array(path[2...])
        switch rest {
        case ["annotations"], ["build", "args"], ["build", "additional_contexts"], ["build", "platform"], ["build", "tags"],
             ["build", "labels"], ["cap_add"], ["cap_drop"], ["deploy", "labels"], ["dns"], ["dns_opt"], ["dns_search"],
             ["environment"], ["labels"], ["links"], ["profiles"], ["sysctls"], ["tmpfs"]:
            return keyValue
        case ["configs"]:
            return { mountKey($0, defaultDirectory: "") }
        case ["secrets"]:
            return { mountKey($0, defaultDirectory: "/run/secrets") }
        case ["env_file"]:
            return { n in n["path"]?.text ?? n.text }
        case ["expose"]:
            return { $0.text }
        case ["ports"]:
            return portKey
        case ["volumes"]:
            return { n in
                if n.isMapping { return n["target"]?.text ?? "" }
                return (try? VolumeSpec.parse(n.text).target) ?? n.text
            }
        case ["devices"]:
            return { n in
                if n.isMapping { return n["target"]?.text ?? "" }
                let parts = n.text.split(separator: ":", omittingEmptySubsequences: false)
                return parts.count == 1 ? String(parts[0]) : String(parts[1])
            }
        default:
            if rest.count == 3, rest[0] == "networks", rest[2] == "aliases" || rest[2] == "link_local_ips" { return keyValue }
            return nil
        }
    }

    static func mountKey(_ n: Node, defaultDirectory: String) -> String {
        if n.isMapping {
            if let target = n["target"] { return target.text }
            return "\(defaultDirectory)/\(n["source"]?.text ?? "")"
        }
        return "\(defaultDirectory)/\(n.text)"
    }

    static func portKey(_ n: Node) -> String {
        switch n.kind {
        case .mapping:
            let host = n["host_ip"]?.text ?? "0.0.0.0"
            let published = n["published"]?.text ?? "%!s(<nil>)"
            let target = n["target"]?.text ?? ""
            let proto = n["protocol"]?.text ?? "tcp"
            return "\(host):\(published):\(target)/\(proto)"
        default:
            return n.text
        }
    }
}
