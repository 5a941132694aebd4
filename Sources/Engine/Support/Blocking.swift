import Dispatch

/// Written once by the task before it signals the semaphore, read by the waiting thread only after
/// the wait returns: the semaphore orders the two, so the box needs no lock of its own.
final class BlockingResult<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}

/// Runs async work (the registry client's) to completion from synchronous code: the commands are
/// synchronous, the HTTP client is not. The work runs on the concurrency pool while the calling
/// thread waits.
public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = BlockingResult<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { box.result = Result<T, Error>.success(try await body()) } catch { box.result = Result<T, Error>.failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}
