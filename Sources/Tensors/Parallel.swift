// The engine's one worker pool: element-wise kernels split rows across cores; BLAS calls never run inside it.
import Dispatch

/// Splits loops over rows across a fixed number of threads.
///
/// A value: the thread count flows in as configuration. BLAS is called from outside `forEachChunk` only,
/// so BLAS's own threads and these never oversubscribe the cores.
public struct WorkerPool: Sendable {
    /// Threads used for element-wise kernels (≥ 1).
    public let threadCount: Int

    /// A pool of `threadCount` threads (clamped to at least 1).
    public init(threadCount: Int) {
        self.threadCount = max(1, threadCount)
    }

    /// One thread per active processor.
    public static var allCores: WorkerPool {
        WorkerPool(threadCount: ProcessInfoShim.activeProcessorCount)
    }

    /// Calls `body(range)` for contiguous chunks covering `0..<count`, in parallel when worthwhile.
    /// `minimumChunk` keeps tiny loops on one thread, where waking others costs more than it saves.
    public func forEachChunk(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(threadCount, max(1, count / max(minimumChunk, 1)))
        if chunks == 1 {
            body(0..<count)
            return
        }
        // Kernels hand in closures over raw pointers, which Swift cannot prove safe to share; each chunk
        // writes a disjoint range, which is the invariant that makes this sound.
        withoutActuallyEscaping(body) { escapable in
            let shared = UncheckedSendable(escapable)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = count * chunk / chunks
                let end = count * (chunk + 1) / chunks
                if start < end { shared.value(start..<end) }
            }
        }
    }
}

private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum ProcessInfoShim {
    static var activeProcessorCount: Int {
        Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }
}
