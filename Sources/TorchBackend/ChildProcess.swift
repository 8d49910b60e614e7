// Running another program: to completion with its output captured (the probe), or streamed line by line with its
// stderr going to a log file (training), and interrupted on request.
//
// posix_spawn rather than Foundation's Process, for two reasons that both break Ctrl-C: the spawning thread's
// blocked-signal mask is inherited (a Dispatch thread blocks SIGINT and SIGTERM, so the program could never be
// stopped), and the program must be in its own process group, so one signal sent to the group reaches it and every
// worker it starts (`accelerate launch`) exactly once, instead of a terminal's Ctrl-C arriving next to ours.
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A started program whose stdout is read as lines.
public final class ChildProcess: @unchecked Sendable {
    /// What a finished program left.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Why a program could not be started.
    public struct SpawnError: Error, CustomStringConvertible {
        public let executable: String
        public let code: Int32
        public var description: String { "cannot start \(executable): \(String(cString: strerror(code)))" }
    }

    public let processIdentifier: pid_t
    private let stdout: FileHandle
    private let lock = NSLock()
    /// Set once the program is reaped, so no signal can reach a group whose id was reused.
    private var reaped = false

    /// Starts `executable arguments…` in a process group of its own, signals unblocked and at their defaults,
    /// stdin from /dev/null; stderr goes to `stderrLog`.
    public init(executable: URL, arguments: [String], environment: [String: String], stderrLog: FileHandle) throws {
        let (read, write) = try Self.makePipe()
        defer { close(write) }
        do {
            processIdentifier = try Self.spawn(
                executable: executable, arguments: arguments, environment: environment,
                stdout: write, stderr: stderrLog.fileDescriptor, closing: [read])
        } catch {
            close(read)
            throw error
        }
        stdout = FileHandle(fileDescriptor: read, closeOnDealloc: true)
    }

    /// Calls `line` for every line of stdout (without the newline) until the program closes it.
    public func readLines(_ line: (String) -> Void) {
        var pending = Data()
        while true {
            let chunk = stdout.availableData
            if chunk.isEmpty { break }
            pending.append(chunk)
            while let newline = pending.firstIndex(of: 0x0A) {
                line(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                pending.removeSubrange(pending.startIndex...newline)
            }
        }
        if !pending.isEmpty { line(String(decoding: pending, as: UTF8.self)) }
    }

    /// Waits for the program to end; its exit status, or 128 + the signal that killed it (as a shell reports it).
    public func wait() -> Int32 {
        let status = Self.waitFor(processIdentifier)
        lock.withLock { reaped = true }
        return status
    }

    /// Asks the program and its workers to stop (SIGINT to its process group).
    public func interrupt() { send(SIGINT) }

    /// Ends the program and its workers at once (SIGKILL to the group): for a program that no longer makes sense to
    /// Tailor, or a second Ctrl-C. Their checkpoints are written atomically, so a kill never leaves half of one.
    public func kill() { send(SIGKILL) }

    private func send(_ signal: Int32) {
        lock.withLock {
            if !reaped { _ = sendSignal(toGroup: processIdentifier, signal) }
        }
    }

    /// Runs a program to completion, capturing both streams.
    public static func run(executable: URL, arguments: [String], environment: [String: String]) throws -> Output {
        let (outRead, outWrite) = try makePipe()
        let (errRead, errWrite) = try makePipe()
        let pid: pid_t
        do {
            pid = try spawn(
                executable: executable, arguments: arguments, environment: environment, stdout: outWrite,
                stderr: errWrite, closing: [outRead, errRead])
        } catch {
            [outRead, outWrite, errRead, errWrite].forEach { _ = close($0) }
            throw error
        }
        close(outWrite)
        close(errWrite)
        let out = FileHandle(fileDescriptor: outRead, closeOnDealloc: true)
        let err = FileHandle(fileDescriptor: errRead, closeOnDealloc: true)
        // Read both pipes before waiting, so a chatty program never blocks on a full pipe.
        let group = DispatchGroup()
        let errBox = DataBox()
        DispatchQueue.global().async(group: group) { errBox.set(err.readDataToEndOfFile()) }
        let outData = out.readDataToEndOfFile()
        group.wait()
        let status = waitFor(pid)
        return Output(
            status: status, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errBox.get(), as: UTF8.self))
    }

    // MARK: POSIX

    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SpawnError(executable: "a pipe", code: errno) }
        return (fds[0], fds[1])
    }

    private static func spawn(
        executable: URL, arguments: [String], environment: [String: String], stdout: Int32, stderr: Int32,
        closing: [Int32]
    ) throws -> pid_t {
        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        var attributes: posix_spawnattr_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        for fd in closing { posix_spawn_file_actions_addclose(&actions, fd) }

        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        let flags = Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF) | Int32(POSIX_SPAWN_SETPGROUP)
        posix_spawnattr_setflags(&attributes, Int16(truncatingIfNeeded: flags))

        let path = executable.path
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else { throw SpawnError(executable: path, code: result) }
        return pid
    }

    private static func waitFor(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            if errno != EINTR { return -1 }
        }
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    private final class DataBox: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        func set(_ value: Data) { lock.withLock { data = value } }
        func get() -> Data { lock.withLock { data } }
    }
}

/// `kill(-group, signal)`, outside the class, where `kill` still names the C call rather than `ChildProcess.kill()`.
private func sendSignal(toGroup group: pid_t, _ signal: Int32) -> Int32 { kill(-group, signal) }
