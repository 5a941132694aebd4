/// Makes the relative paths of a model absolute against a directory, and expands `~`, as compose-go
/// does: build contexts (unless remote), additional contexts, env and label files, `extends.file`,
/// watch paths, bind mount sources, secret and config files, include paths, and the device of a
/// local volume bound with `o: bind`.
struct PathResolver {
    var base: String
    var home: String

    func absolute(_ p: String) -> String {
        if p.hasPrefix("~") { return Path.join(home, String(p.dropFirst())) }
        if Path.isAbsolute(p) { return p }
        return Path.join(base, p)
    }

    static func isRemoteContext(_ p: String) -> Bool {
        if p.contains("://") || p.hasPrefix("service:") { return true }
        return ["https://", "http://", "git://", "ssh://", "github.com/", "git@"].contains { p.hasPrefix($0) }
    }

    func resolvePath(_ node: inout Node) {
        guard case .string(let s) = node.kind else { return }
        node.kind = .string(absolute(s))
    }

    func resolveContext(_ node: inout Node) {
        guard case .string(let s) = node.kind, !Self.isRemoteContext(s) else { return }
        node.kind = .string(absolute(s))
    }

    func resolve(_ model: inout Node) {
        model.modify("services") { services in
            services.mapValues { _, service in
                service.modify("build") { build in
                    build.modify("context") { resolveContext(&$0) }
                    build.modify("ssh") { $0.mapValues { _, v in resolvePath(&v) } }
                    build.modify("additional_contexts") { $0.mapValues { _, v in resolveContext(&v) } }
                }
                service.modify("env_file") { $0.mapItems { item in item.modify("path") { resolvePath(&$0) } } }
                service.modify("label_file") { $0.mapItems(resolvePath) }
                service.modify("extends") { ext in
                    ext.modify("file") { f in
                        if case .string(let s) = f.kind, !Self.isRemoteContext(s) { resolvePath(&f) }
                    }
                }
                service.modify("develop") { d in
                    d.modify("watch") { $0.mapItems { item in item.modify("path") { resolvePath(&$0) } } }
                }
                service.modify("volumes") { volumes in
                    volumes.mapItems { v in
                        guard v.isMapping, v["type"]?.text == "bind" else { return }
                        v.modify("source") { resolvePath(&$0) }
                    }
                }
            }
        }
        for kind in ["configs", "secrets"] {
            model.modify(kind) { $0.mapValues { _, r in r.modify("file") { resolvePath(&$0) } } }
        }
        model.modify("include") { include in
            include.mapItems { item in
                item.modify("path") { $0.mapItems(resolvePath) }
                item.modify("project_directory") { resolvePath(&$0) }
                item.modify("env_file") { $0.mapItems(resolvePath) }
            }
        }
        model.modify("volumes") { volumes in
            volumes.mapValues { _, volume in
                guard volume["driver"]?.text == "local" else { return }
                volume.modify("driver_opts") { opts in
                    guard opts["o"]?.text == "bind" else { return }
                    opts.modify("device") { resolvePath(&$0) }
                }
            }
        }
    }
}
