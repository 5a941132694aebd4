import ComposeModel
import Engine

/// `image inspect` output, shaped like docker's (with swcompose's manifest and layer details), with
/// docker's key order.
struct ImageInspection {
    let value: GoValue

    init(image: ImageRecord, store: ImageStore) {
        func strings(_ list: [String]?) -> GoValue { list.map { .list($0.map(GoValue.string)) } ?? .null }
        func map(_ m: [String: String]?) -> GoValue { m.map { .map($0.mapValues(GoValue.string)) } ?? .null }
        func set(_ m: [String: EmptyObject]?) -> GoValue { m.map { .map($0.mapValues { _ in GoValue.object([]) }) } ?? .null }
        // A pulled image is named by the digest its registry serves (an index's, for a multi-platform
        // image); a loaded one by its manifest's.
        var repoDigests: [String] = []
        for ref in image.references {
            let named = ref.digest.map { "\(ref.familiarName)@\($0)" }
                ?? (image.references.contains { $0.digest != nil && $0.name == ref.name } ? nil : "\(ref.familiarName)@\(image.manifestDigest)")
            if let named, !repoDigests.contains(named) { repoDigests.append(named) }
        }
        var config: [(String, GoValue)] = []
        if let c = image.configuration.config {
            config = [
                ("User", .string(c.user ?? "")), ("ExposedPorts", set(c.exposedPorts)), ("Env", strings(c.env)),
                ("Cmd", strings(c.cmd)), ("Volumes", set(c.volumes)), ("WorkingDir", .string(c.workingDir ?? "")),
                ("Entrypoint", strings(c.entrypoint)), ("Labels", map(c.labels)),
            ]
            if let s = c.stopSignal { config.append(("StopSignal", .string(s))) }
            config.append(("OnBuild", strings(c.onBuild)))
            if let shell = c.shell { config.append(("Shell", strings(shell))) }
            if let h = c.healthcheck {
                var hc: [(String, GoValue)] = [("Test", strings(h.test))]
                if let v = h.interval { hc.append(("Interval", .int(v))) }
                if let v = h.timeout { hc.append(("Timeout", .int(v))) }
                if let v = h.startPeriod { hc.append(("StartPeriod", .int(v))) }
                if let v = h.startInterval { hc.append(("StartInterval", .int(v))) }
                if let v = h.retries { hc.append(("Retries", .int(Int64(v)))) }
                config.append(("Healthcheck", .object(hc)))
            }
        }
        let chains = LayerStore.chainIDs(image.configuration.rootfs.diffIDs)
        let diffIDs = image.configuration.rootfs.diffIDs
        let layers: [GoValue] = image.manifest.layers.enumerated().map { i, l in
            var fields: [(String, GoValue)] = [("Digest", .string(l.digest.description)), ("MediaType", .string(l.mediaType)), ("Size", .int(l.size))]
            if i < diffIDs.count { fields.append(("DiffID", .string(diffIDs[i].description))) }
            if i < chains.count, let layer = store.layers.layer(chains[i]) { fields.append(("UnpackedSize", .int(layer.size))) }
            return .object(fields)
        }
        var fields: [(String, GoValue)] = [
            ("Id", .string(image.id.description)),
            ("RepoTags", .list(image.references.filter { $0.digest == nil }.map { .string($0.familiar) })),
            ("RepoDigests", .list(repoDigests.map(GoValue.string))),
            ("Created", .string(image.configuration.created ?? "")),
            ("Config", .object(config)),
            ("Architecture", .string(image.configuration.architecture)),
        ]
        if let v = image.configuration.variant { fields.append(("Variant", .string(v))) }
        fields += [
            ("Os", .string(image.configuration.os)),
            ("Size", .int(store.size(of: image))),
            ("RootFS", .object([("Type", .string(image.configuration.rootfs.type)), ("Layers", .list(diffIDs.map { .string($0.description) }))])),
            ("Manifest", .object([("Digest", .string(image.manifestDigest.description)), ("MediaType", .string(image.manifest.mediaType ?? MediaType.ociManifest))])),
            ("Layers", .list(layers)),
        ]
        value = .object(fields)
    }
}
