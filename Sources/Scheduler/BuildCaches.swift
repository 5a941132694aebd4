#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Diagnostics
import Engine
import Registry

/// One `build.cache_from` or `build.cache_to` entry, in BuildKit's syntax (`type=registry,ref=…`,
/// `type=local,dest=…`, or a bare reference meaning a registry cache): where a build's step cache
/// is shared, so that a CI runner with an empty store takes the steps another machine ran.
public enum BuildCacheEntry: Equatable, Sendable {
    case registry(ref: String, mode: String, ignoreError: Bool)
    case local(path: String, tag: String, digest: String?, mode: String, ignoreError: Bool)

    static let knownAttributes: Set<String> = ["type", "ref", "mode", "src", "dest", "tag", "digest", "ignore-error",
                                               "image-manifest", "oci-mediatypes"]

    /// The entry, or why it cannot be used (`export`: a cache_to entry).
    public static func parse(_ text: String, export: Bool) -> Result<BuildCacheEntry, BuildCacheError> {
        func fail(_ message: String) -> Result<BuildCacheEntry, BuildCacheError> { .failure(BuildCacheError(message)) }
        let key = export ? "cache_to" : "cache_from"
        if !text.contains("=") {
            guard (try? ImageReference(parsing: text)) != nil else { return fail("\(key) \"\(text)\" is not an image reference or a type=… entry") }
            return .success(.registry(ref: text, mode: "min", ignoreError: false))
        }
        var attributes: [String: String] = [:]
        for field in text.split(separator: ",") {
            let kv = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { return fail("\(key) \"\(text)\": \"\(field)\" is not key=value") }
            attributes[kv[0].trimmingWhitespace().lowercased()] = kv[1].trimmingWhitespace()
        }
        let type = attributes["type"] ?? "registry"
        for name in attributes.keys.sorted() where !knownAttributes.contains(name) {
            return fail("\(key) attribute \(name) is not supported: swcompose's cache is an OCI artifact of uncompressed layers (type, ref, src, dest, tag, digest, mode, ignore-error)")
        }
        let mode = attributes["mode"] ?? "min"
        guard mode == "min" || mode == "max" else { return fail("\(key) mode \(mode): min or max") }
        let ignoreError = attributes["ignore-error"] == "true"
        switch type {
        case "registry":
            guard let ref = attributes["ref"], !ref.isEmpty else { return fail("\(key) type=registry needs ref=IMAGE") }
            guard (try? ImageReference(parsing: ref)) != nil else { return fail("\(key) ref \"\(ref)\" is not an image reference") }
            return .success(.registry(ref: ref, mode: mode, ignoreError: ignoreError))
        case "local":
            guard let path = attributes[export ? "dest" : "src"], !path.isEmpty else {
                return fail("\(key) type=local needs \(export ? "dest" : "src")=DIRECTORY")
            }
            return .success(.local(path: path, tag: attributes["tag"] ?? "latest", digest: attributes["digest"], mode: mode, ignoreError: ignoreError))
        case "inline":
            return fail("\(key) type=inline (cache records inside the image) is not supported: use type=registry with a ref of its own, or type=local")
        default:
            return fail("\(key) type=\(type) is a BuildKit cache backend swcompose does not have: use type=registry or type=local")
        }
    }
}

extension Orchestrator {
    /// The cache entries of a service's build, each resolved (a local directory against the project).
    func cacheEntries(_ b: BuildConfig, service: ServiceConfig, export: Bool) throws(SwcomposeError) -> [BuildCacheEntry] {
        var result: [BuildCacheEntry] = []
        for text in export ? b.cacheTo : b.cacheFrom {
            switch BuildCacheEntry.parse(text, export: export) {
            case .failure(let e):
                throw SwcomposeError(.invalidArgument, "service \"\(service.name)\": \(e.message)", at: service.locations["build"] ?? service.location)
            case .success(.local(let path, let tag, let digest, let mode, let ignore)):
                let relative = path.hasPrefix("./") ? String(path.dropFirst(2)) : path
                result.append(.local(path: path.hasPrefix("/") ? path : project.workingDirectory + "/" + relative, tag: tag, digest: digest,
                                     mode: mode, ignoreError: ignore))
            case .success(let entry):
                result.append(entry)
            }
        }
        return result
    }

    /// `cache_from`: each cache's steps and layers into this store before the build. A cache that
    /// cannot be read is a warning, as BuildKit's: the build runs what it must.
    func importCaches(_ entries: [BuildCacheEntry], service: String, reporter: SerializedReporter) {
        let store = images, runtime = self.runtime, environment = processEnvironment
        for entry in entries {
            do {
                let imported: BuildCacheArtifact.Imported
                let source: String
                switch entry {
                case .local(let path, let tag, let digest, _, _):
                    source = path
                    imported = try BuildCacheArtifact.importLayout(from: path, tag: digest == nil ? tag : nil, digest: digest.flatMap(Digest.init),
                                                                   images: store, runtime: runtime)
                case .registry(let text, _, _):
                    let ref = try ImageReference(parsing: text)
                    source = ref.familiar
                    imported = try runBlocking {
                        try await RegistryClient.with(environment: environment) { client in
                            try await ImagePuller(store: store, client: client).pullBuildCache(ref, runtime: runtime)
                        }
                    }
                }
                reporter.line(" => importing cache from \(source): \(imported.steps) steps, \(imported.layers) layers fetched")
            } catch {
                reporter.line("WARNING: \(service): cache_from: \(error)")
            }
        }
    }

    /// `cache_to`: the build's steps (the image's, or with `mode=max` every stage's) exported. A
    /// failure fails the build unless the entry says `ignore-error=true`.
    func exportCaches(_ entries: [BuildCacheEntry], builder: Builder, service: String, reporter: SerializedReporter) throws(SwcomposeError) {
        let store = images, environment = processEnvironment
        for entry in entries {
            let mode: String, ignore: Bool
            switch entry {
            case .local(_, _, _, let m, let i), .registry(_, let m, let i): (mode, ignore) = (m, i)
            }
            let steps = mode == "max" ? builder.allSteps : builder.imageSteps
            do {
                let artifact = try BuildCacheArtifact.make(steps, images: store)
                switch entry {
                case .local(let path, let tag, _, _, _):
                    try BuildCacheArtifact.writeLayout(artifact.manifest, digest: artifact.digest, size: artifact.size, images: store, to: path, tag: tag)
                    reporter.line(" => exporting cache to \(path) (\(steps.count) steps)")
                case .registry(let text, _, _):
                    let ref = try ImageReference(parsing: text)
                    _ = try runBlocking {
                        try await RegistryClient.with(environment: environment) { client in
                            try await ImagePusher(store: store, client: client).push(manifest: artifact.manifest, digest: artifact.digest,
                                                                                     label: "the build cache of \(service)", to: ref)
                        }
                    }
                    reporter.line(" => exporting cache to \(ref.familiar) (\(steps.count) steps)")
                }
            } catch {
                if ignore {
                    reporter.line("WARNING: \(service): cache_to: \(error)")
                } else {
                    throw SwcomposeError(.failed, "service \"\(service)\": cannot export the build cache: \(error)")
                }
            }
        }
    }
}
