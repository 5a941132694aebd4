import CArchive
#if canImport(Glibc)
import Glibc
#endif

/// File type bits (libarchive's AE_IF*, the same values as the kernel's S_IF*).
enum FileType {
    static let mask: UInt32 = 0o170000
    static let regular: UInt32 = 0o100000
    static let directory: UInt32 = 0o040000
    static let symlink: UInt32 = 0o120000
    static let character: UInt32 = 0o020000
    static let block: UInt32 = 0o060000
    static let fifo: UInt32 = 0o010000
    static let socket: UInt32 = 0o140000
}

public struct ArchiveError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One entry of a tar stream, with the fields swcompose uses.
public struct ArchiveEntry {
    public enum Kind: Sendable, Equatable { case file, directory, symlink, hardlink, characterDevice, blockDevice, fifo, socket, unknown }

    public var path: String
    public var kind: Kind
    public var mode: mode_t
    public var uid: uid_t
    public var gid: gid_t
    public var size: Int64
    public var linkTarget: String
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    public var modified: timespec
    public var accessed: timespec
    public var xattrs: [(String, [UInt8])]

    init(_ e: OpaquePointer) {
        path = (archive_entry_pathname_utf8(e) ?? archive_entry_pathname(e)).map { String(cString: $0) } ?? ""
        let hardlink = (archive_entry_hardlink_utf8(e) ?? archive_entry_hardlink(e)).map { String(cString: $0) }
        let type = archive_entry_filetype(e)
        switch UInt32(type) & FileType.mask {
        case FileType.regular: kind = hardlink != nil ? .hardlink : .file
        case FileType.directory: kind = .directory
        case FileType.symlink: kind = .symlink
        case FileType.character: kind = .characterDevice
        case FileType.block: kind = .blockDevice
        case FileType.fifo: kind = .fifo
        case FileType.socket: kind = .socket
        default: kind = hardlink != nil ? .hardlink : .unknown
        }
        mode = archive_entry_perm(e)
        uid = uid_t(truncatingIfNeeded: archive_entry_uid(e))
        gid = gid_t(truncatingIfNeeded: archive_entry_gid(e))
        size = archive_entry_size(e)
        linkTarget = hardlink ?? (archive_entry_symlink_utf8(e) ?? archive_entry_symlink(e)).map { String(cString: $0) } ?? ""
        deviceMajor = UInt32(archive_entry_rdevmajor(e))
        deviceMinor = UInt32(archive_entry_rdevminor(e))
        modified = timespec(tv_sec: time_t(archive_entry_mtime(e)), tv_nsec: Int(archive_entry_mtime_nsec(e)))
        accessed = archive_entry_atime_is_set(e) != 0
            ? timespec(tv_sec: time_t(archive_entry_atime(e)), tv_nsec: Int(archive_entry_atime_nsec(e))) : modified
        var xattrs: [(String, [UInt8])] = []
        if archive_entry_xattr_reset(e) > 0 {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            while archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK {
                guard let name else { continue }
                let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                xattrs.append((String(cString: name), bytes))
            }
        }
        self.xattrs = xattrs
    }
}

/// libarchive converts names between the locale's charset and UTF-8 (PAX headers): in the C locale
/// a name beyond ASCII (ca-certificates' `Főtanúsítvány.pem`) cannot be converted and the entry
/// fails. Names here are UTF-8 (Swift strings), so the character type is made UTF-8 once, before the
/// first archive is opened (nothing else in the process depends on LC_CTYPE).
enum ArchiveLocale {
    static let ready: Bool = {
        for name in ["C.UTF-8", "C.utf8", "en_US.UTF-8"] where setlocale(LC_CTYPE, name) != nil { return true }
        return false
    }()
}

/// Reads a tar stream (plain, gzip, zstd, xz, bzip2) with libarchive.
public final class ArchiveReader {
    let archive: OpaquePointer
    let label: String
    var source: HashingSource?
    var decompressor: DecompressingPipe?

    /// Opens a file. With `hashingDecompressed`, the decompressed stream's SHA-256 is computed while it
    /// is read (`decompressedDigest` once done), which is how a layer's diff_id is checked.
    public init(path: String, hashingDecompressed: Bool = false) throws(ArchiveError) {
        label = path
        _ = ArchiveLocale.ready
        archive = archive_read_new()
        if hashingDecompressed {
            try openHashing(try HashingSource(path: path))
        } else {
            archive_read_support_filter_all(archive)
            archive_read_support_format_tar(archive)
            archive_read_support_format_gnutar(archive)
            guard archive_read_open_filename(archive, path, 1 << 20) == ARCHIVE_OK else { throw error("open") }
        }
    }

    /// Reads from an open file descriptor (standard input, a pipe). With `hashingDecompressed`, as
    /// for a file: the decompressed stream's SHA-256 is computed on the way — with
    /// `decompressingAside`, on a thread of its own that hands the tar to this reader through a pipe,
    /// so that decompressing and unpacking use two cores (a layer arriving from a registry).
    public init(fd: Int32, label: String, hashingDecompressed: Bool = false, decompressingAside: Bool = false) throws(ArchiveError) {
        self.label = label
        _ = ArchiveLocale.ready
        archive = archive_read_new()
        if hashingDecompressed && decompressingAside, let pipe = try DecompressingPipe(fd: fd, label: label) {
            decompressor = pipe
            archive_read_support_format_tar(archive)
            archive_read_support_format_gnutar(archive)
            guard archive_read_open_fd(archive, pipe.output, 1 << 20) == ARCHIVE_OK else { throw error("open") }
            return
        }
        if hashingDecompressed {
            try openHashing(try HashingSource(fd: fd, label: label))
            return
        }
        archive_read_support_filter_all(archive)
        archive_read_support_format_tar(archive)
        archive_read_support_format_gnutar(archive)
        guard archive_read_open_fd(archive, fd, 1 << 20) == ARCHIVE_OK else { throw error("open") }
    }

    /// Reads the tar from `source`'s decompressed bytes.
    private func openHashing(_ source: HashingSource) throws(ArchiveError) {
        self.source = source
        archive_read_support_format_tar(archive)
        archive_read_support_format_gnutar(archive)
        let context = Unmanaged.passUnretained(source).toOpaque()
        let status = archive_read_open(archive, context, nil, { _, context, buffer in
            let source = Unmanaged<HashingSource>.fromOpaque(context!).takeUnretainedValue()
            return source.read(buffer!)
        }, nil)
        guard status == ARCHIVE_OK else { throw error("open") }
    }

    deinit {
        archive_read_free(archive)
        decompressor?.abandon()
    }

    func error(_ step: String) -> ArchiveError {
        let message = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
        return ArchiveError("\(label): \(step): \(message)")
    }

    /// The next entry, or nil at the end.
    public func next() throws(ArchiveError) -> ArchiveEntry? {
        var entry: OpaquePointer?
        let status = archive_read_next_header(archive, &entry)
        if status == ARCHIVE_EOF { return nil }
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
            if let failure = source?.failure ?? decompressor?.abandon() { throw ArchiveError("\(label): \(failure)") }
            throw error("read")
        }
        return ArchiveEntry(entry)
    }

    /// Calls `body` with each block of the current entry's data and its offset (sparse files skip).
    public func forEachBlock(_ body: (UnsafeRawBufferPointer, Int64) throws(SystemError) -> Void) throws(ArchiveError) -> Int64 {
        var total: Int64 = 0
        while true {
            var buffer: UnsafeRawPointer?
            var size = 0
            var offset: la_int64_t = 0
            let status = archive_read_data_block(archive, &buffer, &size, &offset)
            if status == ARCHIVE_EOF { return total }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN else { throw error("read data") }
            if size > 0, let buffer {
                do {
                    try body(UnsafeRawBufferPointer(start: buffer, count: size), offset)
                } catch {
                    throw ArchiveError("\(label): \(error)")
                }
                total = max(total, offset + Int64(size))
            }
        }
    }

    /// The current entry's data in memory (for small files such as manifests).
    public func readData(limit: Int = 64 << 20) throws(ArchiveError) -> [UInt8] {
        var result: [UInt8] = []
        _ = try forEachBlock { (block, offset) throws(SystemError) in
            if result.count < Int(offset) { result.append(contentsOf: repeatElement(0, count: Int(offset) - result.count)) }
            result.append(contentsOf: block)
        }
        guard result.count <= limit else { throw ArchiveError("\(label): entry too large") }
        return result
    }

    /// Hashes whatever follows the tar end marker, then returns the digest of the whole decompressed
    /// stream (nil when not hashing).
    public func finishDecompressedDigest() throws(ArchiveError) -> Digest? {
        if let decompressor { return try decompressor.finish() }
        guard let source else { return nil }
        try source.drain()
        return source.hasher.finalize()
    }
}

/// Decompresses a file with libarchive's "raw" format and hands the bytes to the tar reader, hashing
/// them on the way.
final class HashingSource {
    let raw: OpaquePointer
    var hasher = Hasher256()
    var buffer: UnsafeMutableRawPointer
    let capacity = 1 << 20
    var failure: String?

    convenience init(path: String) throws(ArchiveError) {
        try self.init(label: path) { raw in archive_read_open_filename(raw, path, 1 << 20) }
    }

    convenience init(fd: Int32, label: String) throws(ArchiveError) {
        try self.init(label: label) { raw in archive_read_open_fd(raw, fd, 1 << 20) }
    }

    init(label: String, open: (OpaquePointer) -> Int32) throws(ArchiveError) {
        raw = archive_read_new()
        archive_read_support_filter_all(raw)
        archive_read_support_format_raw(raw)
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        guard open(raw) == ARCHIVE_OK else {
            let message = archive_error_string(raw).map { String(cString: $0) } ?? "cannot open"
            throw ArchiveError("\(label): \(message)")
        }
        var entry: OpaquePointer?
        guard archive_read_next_header(raw, &entry) == ARCHIVE_OK else {
            let message = archive_error_string(raw).map { String(cString: $0) } ?? "empty"
            throw ArchiveError("\(label): \(message)")
        }
    }

    deinit {
        archive_read_free(raw)
        buffer.deallocate()
    }

    func read(_ out: UnsafeMutablePointer<UnsafeRawPointer?>) -> Int {
        let n = archive_read_data(raw, buffer, capacity)
        if n < 0 {
            failure = archive_error_string(raw).map { String(cString: $0) } ?? "decompression failed"
            return -1
        }
        hasher.update(UnsafeRawBufferPointer(start: buffer, count: n))
        out.pointee = UnsafeRawPointer(buffer)
        return n
    }

    func drain() throws(ArchiveError) {
        var scratch: UnsafeRawPointer?
        while true {
            let n = read(&scratch)
            if n < 0 { throw ArchiveError(failure ?? "decompression failed") }
            if n == 0 { return }
        }
    }
}

/// A compressed stream decompressed, and its decompressed bytes hashed, on a thread of its own into a
/// pipe whose read end (`output`) a tar reader reads.
final class DecompressingPipe {
    let source: HashingSource
    let output: Int32
    var thread: BackgroundThread?
    /// Written by the thread, read after it is joined.
    let box = FailureBox()
    var closed = false

    /// nil when no pipe or thread can be made (the caller decompresses in line).
    init?(fd: Int32, label: String) throws(ArchiveError) {
        source = try HashingSource(fd: fd, label: label)
        guard let ends = try? Sys.pipe() else { return nil }
        _ = Sys.setPipeCapacity(ends.write, 1 << 20)
        output = ends.read
        let source = self.source, box = self.box, write = ends.write
        guard let thread = BackgroundThread({
            var chunk: UnsafeRawPointer?
            while true {
                let n = source.read(&chunk)
                if n < 0 { box.failure = source.failure ?? "decompression failed"; break }
                if n == 0 { break }
                // The reader gone (a refused layer): the rest is still read, to hash nothing less.
                if !box.readerGone {
                    do { try Sys.write(write, UnsafeRawBufferPointer(start: chunk, count: n)) } catch { box.readerGone = true }
                }
            }
            Sys.close(write)
        }) else {
            Sys.close(ends.read)
            Sys.close(ends.write)
            return nil
        }
        self.thread = thread
    }

    /// The decompressor's failure, and whether the tar reader stopped reading.
    final class FailureBox: @unchecked Sendable {
        var failure: String?
        var readerGone = false
    }

    /// Reads what the tar reader left (after its end marker) and waits for the thread: the digest of
    /// the whole decompressed stream, or the decompressor's failure.
    func finish() throws(ArchiveError) -> Digest {
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
        while ((try? Sys.read(output, into: &scratch)) ?? 0) > 0 {}
        if let failure = abandon() { throw ArchiveError(failure) }
        return source.hasher.finalize()
    }

    /// The reader is done early (it refused an entry, or its stream was cut short): the thread reads
    /// the rest without writing it, and is waited for. The decompressor's failure, if it had one.
    @discardableResult
    func abandon() -> String? {
        if !closed {
            closed = true
            Sys.close(output)
        }
        thread?.join()
        thread = nil
        return box.failure
    }
}

/// Writes tar streams (for `image save` and for tests' generated archives).
public final class ArchiveWriter {
    let archive: OpaquePointer
    let label: String

    public enum Compression { case none, gzip, zstd }

    public init(path: String, compression: Compression = .none) throws(ArchiveError) {
        label = path
        _ = ArchiveLocale.ready
        archive = archive_write_new()
        archive_write_set_format_pax_restricted(archive)
        switch compression {
        case .none: break
        case .gzip: archive_write_add_filter_gzip(archive)
        case .zstd: archive_write_add_filter_zstd(archive)
        }
        guard archive_write_open_filename(archive, path) == ARCHIVE_OK else { throw error("open") }
    }

    public init(fd: Int32, label: String) throws(ArchiveError) {
        self.label = label
        _ = ArchiveLocale.ready
        archive = archive_write_new()
        archive_write_set_format_pax_restricted(archive)
        guard archive_write_open_fd(archive, fd) == ARCHIVE_OK else { throw error("open") }
    }

    deinit { archive_write_free(archive) }

    func error(_ step: String) -> ArchiveError {
        ArchiveError("\(label): \(step): \(archive_error_string(archive).map { String(cString: $0) } ?? "unknown error")")
    }

    public struct Header {
        public var path: String
        public var kind: ArchiveEntry.Kind = .file
        public var mode: mode_t = 0o644
        public var uid: uid_t = 0
        public var gid: gid_t = 0
        public var linkTarget: String = ""
        public var deviceMajor: UInt32 = 0
        public var deviceMinor: UInt32 = 0
        public var mtime: Int = 0
        public var xattrs: [(String, [UInt8])] = []

        public init(path: String, kind: ArchiveEntry.Kind = .file, mode: mode_t = 0o644) {
            self.path = path
            self.kind = kind
            self.mode = mode
        }
    }

    /// Adds an entry; `data` is the content of a regular file.
    public func add(_ h: Header, data: [UInt8] = []) throws(ArchiveError) {
        guard let e = archive_entry_new() else { throw ArchiveError("out of memory") }
        defer { archive_entry_free(e) }
        archive_entry_set_pathname(e, h.path)
        archive_entry_set_perm(e, h.mode)
        archive_entry_set_uid(e, la_int64_t(h.uid))
        archive_entry_set_gid(e, la_int64_t(h.gid))
        archive_entry_set_mtime(e, time_t(h.mtime), 0)
        switch h.kind {
        case .file: archive_entry_set_filetype(e, FileType.regular); archive_entry_set_size(e, la_int64_t(data.count))
        case .directory: archive_entry_set_filetype(e, FileType.directory)
        case .symlink: archive_entry_set_filetype(e, FileType.symlink); archive_entry_set_symlink(e, h.linkTarget)
        case .hardlink: archive_entry_set_filetype(e, FileType.regular); archive_entry_set_hardlink(e, h.linkTarget)
        case .characterDevice:
            archive_entry_set_filetype(e, FileType.character)
            archive_entry_set_rdevmajor(e, dev_t(h.deviceMajor)); archive_entry_set_rdevminor(e, dev_t(h.deviceMinor))
        case .blockDevice:
            archive_entry_set_filetype(e, FileType.block)
            archive_entry_set_rdevmajor(e, dev_t(h.deviceMajor)); archive_entry_set_rdevminor(e, dev_t(h.deviceMinor))
        case .fifo: archive_entry_set_filetype(e, FileType.fifo)
        case .socket, .unknown: archive_entry_set_filetype(e, FileType.regular)
        }
        for (name, value) in h.xattrs {
            value.withUnsafeBytes { archive_entry_xattr_add_entry(e, name, $0.baseAddress, $0.count) }
        }
        guard archive_write_header(archive, e) == ARCHIVE_OK else { throw error("write header \(h.path)") }
        if h.kind == .file && !data.isEmpty {
            let n = data.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, $0.count) }
            guard n == data.count else { throw error("write \(h.path)") }
        }
    }

    /// Adds a regular file whose content is read from `sourcePath` in blocks.
    public func addFile(_ h: Header, from sourcePath: String, size: Int64) throws(ArchiveError) {
        guard let e = archive_entry_new() else { throw ArchiveError("out of memory") }
        defer { archive_entry_free(e) }
        archive_entry_set_pathname(e, h.path)
        archive_entry_set_perm(e, h.mode)
        archive_entry_set_uid(e, la_int64_t(h.uid))
        archive_entry_set_gid(e, la_int64_t(h.gid))
        archive_entry_set_filetype(e, FileType.regular)
        archive_entry_set_size(e, la_int64_t(size))
        archive_entry_set_mtime(e, time_t(h.mtime), 0)
        for (name, value) in h.xattrs {
            value.withUnsafeBytes { archive_entry_xattr_add_entry(e, name, $0.baseAddress, $0.count) }
        }
        guard archive_write_header(archive, e) == ARCHIVE_OK else { throw error("write header \(h.path)") }
        let file: FileHandle
        do { file = try FileHandle(path: sourcePath, flags: O_RDONLY) } catch { throw ArchiveError("\(sourcePath): \(error.message)") }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n: Int
            do { n = try Sys.read(file.fd, into: &chunk) } catch { throw ArchiveError("\(sourcePath): \(error.message)") }
            if n == 0 { break }
            let written = chunk.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, n) }
            guard written == n else { throw error("write \(h.path)") }
        }
    }

    public func finish() throws(ArchiveError) {
        guard archive_write_close(archive) == ARCHIVE_OK else { throw error("close") }
    }
}
