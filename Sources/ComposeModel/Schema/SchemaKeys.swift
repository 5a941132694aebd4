/// The keys of the compose specification by path, and the keys a model uses.
///
/// A key's path names it as the schema nests it: `services.*.build.cache_to`, with `*` for a name the
/// user chooses (a service, a network, a ulimit) and list items transparent
/// (`services.*.volumes.bind.propagation` is the `bind.propagation` of any entry of `volumes`). Maps
/// whose keys are data (labels, `driver_opts`, `environment`) are leaves, and `x-` extensions are
/// not keys of the specification.
extension SchemaValidator {
    /// One key a model uses.
    public struct KeyUse: Sendable {
        /// The key's schema path (`services.*.logging.driver`).
        public var path: String
        /// Where the key was written.
        public var keyLocation: SourceLocation
        public var value: Node
        /// The names the path's `*`s stand for, outermost first (`["web"]` for `services.web.…`).
        public var names: [String]
    }

    /// Every key path the schema allows, sorted.
    public var keyPaths: [String] {
        var found: Set<String> = []
        collect([0], path: "", depth: 0, into: &found)
        return found.sorted()
    }

    /// Every key of the specification that `model` uses, in document order, with its schema path.
    public func keyUses(in model: Node) -> [KeyUse] {
        var uses: [KeyUse] = []
        walk(model, [0], path: "", names: [], into: &uses)
        return uses
    }

    /// The schema at `index` with its `$ref` followed, and every `oneOf`/`anyOf`/`allOf` branch of it.
    private func branches(_ index: Int, depth: Int = 0) -> [Schema] {
        let s = resolved(index)
        guard depth < 16 else { return [s] }
        var result = [s]
        for sub in s.oneOf + s.anyOf + s.allOf { result += branches(sub, depth: depth + 1) }
        return result
    }

    /// Whether a map's values are objects with keys of their own (services, depends_on entries), as
    /// opposed to data (labels, options).
    private func hasProperties(_ index: Int) -> Bool {
        branches(index).contains { !$0.properties.isEmpty || $0.items.map(hasProperties) == true }
    }

    private static func isExtension(_ pattern: MiniRegex) -> Bool { pattern.source.hasPrefix("^x-") }

    private func collect(_ indices: [Int], path: String, depth: Int, into found: inout Set<String>) {
        guard depth < 16 else { return }
        for b in indices.flatMap({ branches($0) }) {
            for key in b.propertyOrder {
                let p = Self.join(path, key)
                found.insert(p)
                collect([b.properties[key]!], path: p, depth: depth + 1, into: &found)
            }
            for (regex, sub) in b.patternProperties where !Self.isExtension(regex) && hasProperties(sub) {
                collect([sub], path: Self.join(path, "*"), depth: depth + 1, into: &found)
            }
            if let items = b.items { collect([items], path: path, depth: depth + 1, into: &found) }
        }
    }

    private func walk(_ node: Node, _ indices: [Int], path: String, names: [String], into uses: inout [KeyUse]) {
        let all = indices.flatMap { branches($0) }
        switch node.kind {
        case .mapping(let entries):
            for entry in entries {
                let properties = all.compactMap { $0.properties[entry.key] }
                if !properties.isEmpty {
                    let p = Self.join(path, entry.key)
                    uses.append(KeyUse(path: p, keyLocation: entry.keyLocation, value: entry.value, names: names))
                    walk(entry.value, properties, path: p, names: names, into: &uses)
                    continue
                }
                let named = all.flatMap { b in
                    b.patternProperties.filter { !Self.isExtension($0.0) && $0.0.matches(entry.key) }.map(\.1)
                }
                if named.contains(where: hasProperties) {
                    walk(entry.value, named, path: Self.join(path, "*"), names: names + [entry.key], into: &uses)
                }
            }
        case .sequence(let items):
            let itemSchemas = all.compactMap(\.items)
            guard !itemSchemas.isEmpty else { return }
            for item in items { walk(item, itemSchemas, path: path, names: names, into: &uses) }
        default:
            break
        }
    }
}
