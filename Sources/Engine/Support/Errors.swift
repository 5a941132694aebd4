#if canImport(Glibc)
import Glibc
#endif
@_exported import Diagnostics

extension SystemError {
    /// This failure as the error that crosses layers, with what was being done.
    public func wrapped(_ message: String, hint: String? = nil) -> SwcomposeError {
        SwcomposeError(code == EACCES || code == EPERM ? .permissionDenied : code == ENOENT ? .notFound : .system,
                       message, cause: self, hint: hint)
    }
}
