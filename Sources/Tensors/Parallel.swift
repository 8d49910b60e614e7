// The engine's one worker pool: element-wise kernels split rows across cores, on the same OpenMP team as oneDNN's
// products when oneDNN is loaded.
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Splits loops over rows across a fixed number of threads.
///
/// A value: the thread count flows in as configuration. Full-size products are called from outside
/// `forEachChunk`; attention calls small ones inside it, where oneDNN runs them on the calling thread (a nested
/// OpenMP region gets a team of one), so the cores are never oversubscribed.
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
            if let team = OpenMPTeam.shared {
                // oneDNN's products run on the OpenMP team; running the element-wise kernels on the same threads
                // keeps two thread pools from spinning against each other on the same cores.
                team.run(chunks: chunks) { chunk in
                    let start = count * chunk / chunks
                    let end = count * (chunk + 1) / chunks
                    if start < end { escapable(start..<end) }
                }
                return
            }
            let shared = UncheckedSendable(escapable)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = count * chunk / chunks
                let end = count * (chunk + 1) / chunks
                if start < end { shared.value(start..<end) }
            }
        }
    }
}

/// The OpenMP runtime oneDNN brought in (libgomp), reached through its entry points: `GOMP_parallel` starts a
/// team running one function, the way `#pragma omp parallel` compiles.
struct OpenMPTeam: Sendable {
    typealias Region = @convention(c) (UnsafeMutableRawPointer?) -> Void
    typealias Parallel = @convention(c) (Region, UnsafeMutableRawPointer?, UInt32, UInt32) -> Void
    typealias Query = @convention(c) () -> Int32

    let parallel: Parallel
    let threadNumber: Query
    let teamSize: Query

    /// The runtime when oneDNN is linked (its libgomp is then loaded), else nil.
    static let shared: OpenMPTeam? = {
        #if TAILOR_ONEDNN
        guard OneDNNLibrary.shared != nil else { return nil }
        let process = UnsafeMutableRawPointer(bitPattern: 0)  // RTLD_DEFAULT
        guard let parallel = dlsym(process, "GOMP_parallel"), let number = dlsym(process, "omp_get_thread_num"),
            let size = dlsym(process, "omp_get_num_threads")
        else { return nil }
        return OpenMPTeam(
            parallel: unsafeBitCast(parallel, to: Parallel.self), threadNumber: unsafeBitCast(number, to: Query.self),
            teamSize: unsafeBitCast(size, to: Query.self))
        #else
        return nil
        #endif
    }()

    private struct Job {
        let chunks: Int
        let body: (Int) -> Void
        let team: OpenMPTeam
    }

    /// Calls `body(chunk)` for every chunk in 0..<chunks on a team of up to `chunks` threads.
    func run(chunks: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { escapable in
            var job = Job(chunks: chunks, body: escapable, team: self)
            withUnsafeMutablePointer(to: &job) { pointer in
                parallel({ raw in
                    let job = raw!.assumingMemoryBound(to: Job.self).pointee
                    let size = max(1, Int(job.team.teamSize()))
                    // The runtime may grant fewer threads than asked: each takes every size-th chunk.
                    for chunk in stride(from: Int(job.team.threadNumber()), to: job.chunks, by: size) {
                        job.body(chunk)
                    }
                }, pointer, UInt32(chunks), 0)
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
