#if canImport(Glibc)
import Glibc
#endif
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Engine

extension RegistryClient {
    /// `ADD https://…`: fetches a URL into a file (following redirects), hashing as it writes.
    /// Returns the content's digest, its size and the server's Last-Modified time (seconds), if any.
    public func download(_ url: String, to path: String, limit: Int64 = 8 << 30) async throws -> (digest: Digest, size: Int64, modified: Int64?) {
        var current = url
        for _ in 0..<10 {
            let response = try await execute(HTTPClientRequest(url: current), timeout: .seconds(600))
            if [301, 302, 303, 307, 308].contains(response.status.code), let location = response.headers.first(name: "Location") {
                current = location.hasPrefix("http") ? location : Self.origin(current) + location
                continue
            }
            guard response.status == .ok else {
                throw RegistryError(.notFound, "GET \(url): \(response.status.code) \(response.status.reasonPhrase)")
            }
            let fd: Int32
            do { fd = try Sys.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) } catch { throw RegistryError(.local, "\(error)") }
            defer { Sys.close(fd) }
            var hasher = Hasher256()
            var size: Int64 = 0
            for try await chunk in response.body {
                var failure: SystemError?
                chunk.withUnsafeReadableBytes { bytes in
                    hasher.update(bytes)
                    do throws(SystemError) { try Sys.write(fd, bytes) } catch { failure = error }
                }
                if let failure { throw RegistryError(.local, failure.description) }
                size += Int64(chunk.readableBytes)
                if size > limit { throw RegistryError(.corrupt, "GET \(url): more than \(limit) bytes") }
            }
            let modified = response.headers.first(name: "Last-Modified").flatMap(Self.httpDate)
            return (hasher.finalize(), size, modified)
        }
        throw RegistryError(.notFound, "GET \(url): too many redirects")
    }

    /// `Tue, 01 Dec 2026 12:00:00 GMT` in seconds since the epoch.
    static func httpDate(_ text: String) -> Int64? {
        let f = text.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard f.count == 6, let day = Int32(f[1]), let month = months.firstIndex(of: String(f[2])), let year = Int32(f[3]) else { return nil }
        let clock = f[4].split(separator: ":").compactMap { Int32($0) }
        guard clock.count == 3 else { return nil }
        var t = tm()
        t.tm_year = year - 1900
        t.tm_mon = Int32(month)
        t.tm_mday = day
        t.tm_hour = clock[0]
        t.tm_min = clock[1]
        t.tm_sec = clock[2]
        return Int64(timegm(&t))
    }
}
