/// The variables a project is interpolated with, and where each came from: the shell environment
/// wins over `.env` files (and `--env-file`), which are read in order.
public struct ProjectEnvironment: Sendable {
    public struct Variable: Sendable, Equatable {
        public enum Origin: Sendable, Equatable {
            case shell
            case envFile(path: String, line: Int)
            /// Set by swcompose itself (COMPOSE_PROJECT_NAME).
            case implicit
        }

        public var value: String
        public var origin: Origin
    }

    public private(set) var variables: [String: Variable] = [:]
    /// Definitions that lost to an earlier one (a `.env` value hidden by the shell's).
    public private(set) var shadowed: [String: [Variable]] = [:]

    public init() {}

    public init(shell: [String: String]) {
        for (k, v) in shell { variables[k] = Variable(value: v, origin: .shell) }
    }

    public subscript(name: String) -> String? { variables[name]?.value }

    public var values: [String: String] { variables.mapValues(\.value) }

    /// Adds variables that are not already defined (compose-go's `Mapping.Merge`).
    public mutating func addMissing(_ other: [String: Variable]) {
        for (k, v) in other {
            if let existing = variables[k] {
                if existing != v && !(shadowed[k]?.contains(v) ?? false) { shadowed[k, default: []].append(v) }
            } else {
                variables[k] = v
            }
        }
    }

    public mutating func set(_ name: String, _ value: String, origin: Variable.Origin) {
        variables[name] = Variable(value: value, origin: origin)
    }

    /// Reads env files in order: each file sees the environment first, then the files before it.
    /// Later files override earlier ones; the result is meant for `addMissing`.
    public static func read(envFiles: [String], environment: ProjectEnvironment, sources: inout SourceTexts)
        throws(ComposeError) -> [String: Variable]
    {
        var result: [String: Variable] = [:]
        for file in envFiles {
            switch FileSystem.kind(file) {
            case .missing: throw ComposeError(.error("couldn't find env file: \(file)"))
            case .directory: throw ComposeError(.error("\(file) is a directory, not an env file"))
            default: break
            }
            let text: String
            do { text = try FileSystem.readText(file) } catch { throw ComposeError(.error("\(error)")) }
            sources[file] = text
            let accumulated = result
            do {
                for v in try DotEnv.parse(text, lookup: { environment[$0] }, fallback: { accumulated[$0]?.value }) {
                    result[v.key] = Variable(value: v.value, origin: .envFile(path: file, line: v.line))
                }
            } catch {
                throw ComposeError(.error("failed to read \(Path.base(file)): \(error.message)",
                                          at: SourceLocation(file: file, line: error.line, column: 1)), sources: sources)
            }
        }
        return result
    }
}

/// A variable read by the compose files, for `config --environment`.
public struct VariableReference: Sendable {
    public var name: String
    public var location: SourceLocation
    public var use: Interpolator.Use
    public var value: String?
}

/// Where a variable of a service's container environment comes from.
public struct ServiceVariableSource: Sendable {
    public struct FileLine: Sendable, Equatable {
        public var path: String
        public var line: Int
    }

    public enum Kind: Sendable {
        /// Written with its value in `environment`.
        case literal(SourceLocation)
        /// Named in `environment` without a value, and taken from the shell or `.env`.
        case inherited(SourceLocation)
        /// Named without a value and set nowhere.
        case unset(SourceLocation)
        /// Read from an `env_file`.
        case envFile(path: String, line: Int)
    }

    public var name: String
    public var kind: Kind
    /// The `env_file` line this value replaces, if any.
    public var overriddenEnvFile: FileLine?
}
