/// The error that crosses layers: what kind of failure (a code callers can test), what failed (a
/// sentence naming the object at fault), why (the underlying error, kept rather than flattened into a
/// string), where in a file when a file is at fault, and what to do about it.
///
///     let e = SwcomposeError(.notFound, "image busybox:local of service \"web\" is not in the image store",
///                            at: location, hint: "pull it (swcompose pull web) or load it (swcompose image load -i FILE)")
///
/// As apple/containerization's `ContainerizationError`, the code wraps a private enum so that codes
/// can be added without breaking callers that switch over them.
public struct SwcomposeError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable, Hashable {
            case invalidArgument, notFound, exists, inUse, permissionDenied, unsupported, timeout
            case failedPrecondition, interrupted, system, corrupt, network, unavailable, failed
        }

        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// Bad input: a compose file, a flag, a Dockerfile.
        public static let invalidArgument = Code(.invalidArgument)
        /// A container, image, volume, network or file that does not exist.
        public static let notFound = Code(.notFound)
        /// Something of that name exists already.
        public static let exists = Code(.exists)
        /// Refused because something else uses it (a volume a container mounts, a port another process holds).
        public static let inUse = Code(.inUse)
        public static let permissionDenied = Code(.permissionDenied)
        /// What this kernel, host or build cannot do.
        public static let unsupported = Code(.unsupported)
        public static let timeout = Code(.timeout)
        /// The object is not in a state that allows it (a container that is not running).
        public static let failedPrecondition = Code(.failedPrecondition)
        /// Stopped by a signal (Ctrl-C).
        public static let interrupted = Code(.interrupted)
        /// A system call failed.
        public static let system = Code(.system)
        /// A record or blob that does not read back as written.
        public static let corrupt = Code(.corrupt)
        /// A registry or another peer could not be reached or answered wrongly.
        public static let network = Code(.network)
        /// A dependency is not ready or not there (a supervisor, a helper program).
        public static let unavailable = Code(.unavailable)
        /// Anything else that failed.
        public static let failed = Code(.failed)

        public var description: String { value.rawValue }
    }

    public var code: Code
    /// What failed, naming the object at fault.
    public var message: String
    /// The error underneath, as it was thrown.
    public var cause: (any Error & Sendable)?
    /// The place in a file that is at fault (a compose file line, a Dockerfile instruction).
    public var location: SourceLocation?
    /// What the user can do about it.
    public var hint: String?
    /// Further places that explain the problem ("first defined here").
    public var notes: [Diagnostic]
    /// Other problems reported with this one (all of a Dockerfile's syntax errors, not just the first).
    public var related: [Diagnostic] = []
    /// Texts of files the locations point into that are not compose files (a Dockerfile), for carets.
    public var sources = SourceTexts()

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil, at location: SourceLocation? = nil,
                hint: String? = nil, notes: [Diagnostic] = []) {
        self.code = code
        self.message = message
        self.cause = cause
        self.location = location
        self.hint = hint
        self.notes = notes
    }

    /// As a compiler-style diagnostic (located when the error is).
    public var diagnostic: Diagnostic { .error(description, at: location, notes: notes) }

    /// This error's diagnostic and the related ones, in order.
    public var diagnostics: [Diagnostic] { [diagnostic] + related }

    /// The message followed by its causes (`start container p-web-1: mount root filesystem: …`) and the hint.
    public var description: String {
        var text = message
        if let cause {
            let inner = (cause as? CustomStringConvertible)?.description ?? "\(cause)"
            if !inner.isEmpty && !text.hasSuffix(inner) { text += ": " + inner }
        }
        if let hint { text += " (" + hint + ")" }
        return text
    }

    /// The innermost cause of a given type, looking through nested `SwcomposeError`s.
    public func cause<T: Error>(as type: T.Type) -> T? {
        var current: (any Error)? = cause
        while let c = current {
            if let hit = c as? T { return hit }
            current = (c as? SwcomposeError)?.cause
        }
        return nil
    }

    /// Whether this error or one of its causes has the code.
    public func has(_ code: Code) -> Bool {
        if self.code == code { return true }
        return (cause as? SwcomposeError)?.has(code) ?? false
    }
}
