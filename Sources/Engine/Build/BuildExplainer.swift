/// Why a step was not cached (`build --explain`; and `up`'s "Rebuild app (changed: src/main.py)"):
/// what each step read is kept per build — the Dockerfile and target — and the next build compares.
final class BuildExplainer {
    struct StepRecord: Codable, Equatable {
        var key: String
        var parent: String
        var instruction: String
        var args: [String: String]
        var files: [String: String]
    }

    let path: String
    var previous: [String: StepRecord] = [:]
    var current: [String: StepRecord] = [:]
    /// Keys of this build's FROM steps (a step whose parent is one of them follows its base image).
    var bases: Set<String> = []

    init(directory: String, build: String) {
        path = directory + "/" + Digest.of(build).hex
        if let bytes = try? Files.read(path), let p = try? JSON.decode([String: StepRecord].self, bytes) { previous = p }
    }

    /// Notes a step; for a miss, says why (nil for a hit).
    func note(_ id: String, _ record: StepRecord, hit: Bool) -> String? {
        current[id] = record
        guard !hit else { return nil }
        guard let before = previous[id] else { return "not built before" }
        if before.key == record.key { return "its cached layer is gone (pruned)" }
        if before.parent != record.parent { return bases.contains(record.parent) ? "the base image changed" : "an earlier step was rebuilt" }
        if before.instruction != record.instruction { return "the instruction changed" }
        let args = Set(before.args.keys).union(record.args.keys).filter { before.args[$0] != record.args[$0] }.sorted()
        if !args.isEmpty { return "build arg\(args.count > 1 ? "s" : "") \(args.joined(separator: ", ")) changed" }
        let files = Set(before.files.keys).union(record.files.keys).filter { before.files[$0] != record.files[$0] }.sorted()
        if !files.isEmpty {
            let shown = files.prefix(3).joined(separator: ", ") + (files.count > 3 ? " and \(files.count - 3) more" : "")
            return "changed: \(shown)"
        }
        return "its inputs changed"
    }

    func save() {
        guard current != previous, let bytes = try? JSON.encode(current) else { return }
        try? Sys.mkdirAll(String(path[..<path.lastIndex(of: "/")!]), 0o700)
        try? Files.writeAtomically(path, bytes, durable: false)
    }
}
