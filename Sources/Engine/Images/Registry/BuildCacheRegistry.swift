import Engine

extension ImagePuller {
    /// Fetches a build cache artifact (`cache_from: type=registry,ref=…`): its layers into the content
    /// store, its steps into the build cache. Fails, saying why, when the reference holds none.
    public func pullBuildCache(_ ref: ImageReference, runtime: Runtime) async throws -> BuildCacheArtifact.Imported {
        do { try Sys.mkdirAll(ingestDirectory, 0o700) } catch { throw RegistryError(.local, "cannot prepare the image store", cause: error) }
        let fetched = try await retrying { try await client.manifest(ref) }
        guard MediaType.isManifest(fetched.mediaType) else {
            throw RegistryError(.invalid, "\(ref.familiar) holds no swcompose build cache (it is \(fetched.mediaType))")
        }
        var configBytes: [UInt8] = []
        let manifest: ImageManifest
        do {
            let doc = try JSON.decode(ImageManifest.self, fetched.bytes)
            configBytes = try await retrying { try await smallBlob(ref, doc.config) }
            let bytes = configBytes
            (manifest, _) = try BuildCacheArtifact.parse(fetched.bytes, configBytes: { _ in bytes }, source: ref.familiar)
        } catch let error as BuildCacheError {
            throw RegistryError(.invalid, error.message)
        }
        let config = try JSON.decode(BuildCacheArtifact.Config.self, configBytes)
        var fetchedLayers = 0
        for layer in manifest.layers where !store.content.contains(layer.digest) {
            _ = try await retrying { try await fetchBlob(ref, layer) { _, _ in } }
            fetchedLayers += 1
        }
        BuildCacheArtifact.record(config.steps, runtime: runtime)
        return BuildCacheArtifact.Imported(steps: config.steps.count, layers: fetchedLayers)
    }
}
