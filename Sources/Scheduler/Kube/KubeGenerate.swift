import ComposeModel
import Diagnostics
import Engine

/// `kube generate`: the conversion with what the store knows of the images (their `EXPOSE`d ports and
/// `HEALTHCHECK`s), the secrets' and configs' files read, and — with `push` — the services' images
/// built and pushed first, the manifests naming exactly what was pushed (`name@sha256:…`).
extension Orchestrator {
    public func kubeManifests(_ options: KubeOptions, push: Bool) throws(SwcomposeError) -> KubeManifests {
        var o = options
        let store = images
        o.imageFacts = { reference in
            guard let record = try? store.resolve(reference), let config = record.configuration.config else { return nil }
            var facts = KubeOptions.ImageFacts(exposedPorts: (config.exposedPorts ?? [:]).keys.sorted())
            if let hc = config.healthcheck, let test = hc.test {
                var h = HealthCheckConfig()
                h.test = test
                h.interval = hc.interval.map { Duration(nanoseconds: $0) }
                h.timeout = hc.timeout.map { Duration(nanoseconds: $0) }
                h.startPeriod = hc.startPeriod.map { Duration(nanoseconds: $0) }
                h.startInterval = hc.startInterval.map { Duration(nanoseconds: $0) }
                h.retries = hc.retries.map { Int64($0) }
                facts.healthcheck = h
            }
            return facts
        }
        o.readFile = { path in
            do { return try Files.read(path) } catch { throw SwcomposeError(.notFound, "\(error)") }
        }
        if push {
            try checkServices(options.services)
            let names = selection(options.services, withDependencies: true).filter { project.services[$0]?.build != nil }
            for n in names where project.services[n]!.image.isEmpty {
                throw SwcomposeError(.invalidArgument, "service \"\(n)\" is built but has no image: name the registry image to push it to (image: registry.example.com/\(n):tag)",
                                     at: project.services[n]!.locations["build"] ?? project.services[n]!.location)
            }
            if !names.isEmpty {
                var b = BuildOptions()
                b.services = names
                try build(b)
                var p = PushOptions()
                p.services = names
                try self.push(p)
                for n in names {
                    let service = project.services[n]!
                    do {
                        let record = try images.resolve(service.image)
                        let ref = try ImageReference(parsing: service.image)
                        o.images[n] = "\(ref.familiarName)@\(record.manifestDigest)"
                    } catch {
                        throw SwcomposeError(.notFound, "service \"\(n)\": the pushed image \(service.image) is not in the store: \(error)")
                    }
                }
            }
        }
        return try KubeConverter.convert(project, options: o)
    }
}
