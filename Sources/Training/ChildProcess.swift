// Running another program: to completion with its output captured (the probe), or streamed line by line with its
// stderr going to a log file (training), and interrupted on request.
import Foundation

/// A started program whose stdout is read as lines.
public final class ChildProcess: @unchecked Sendable {
    /// What a finished program left.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    private let process = Process()
    private let stdout = Pipe()
    private let lock = NSLock()
    /// Set once the program is reaped, so no signal can reach a process that reused its id.
    private var reaped = false

    /// Starts `executable arguments…`; stderr goes to `stderrLog`, which is opened for appending.
    public init(executable: URL, arguments: [String], environment: [String: String], stderrLog: FileHandle) throws {
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = stdout
        process.standardError = stderrLog
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    public var processIdentifier: Int32 { process.processIdentifier }

    /// Calls `line` for every line of stdout (without the newline) until the program closes it.
    public func readLines(_ line: (String) -> Void) {
        let handle = stdout.fileHandleForReading
        var pending = Data()
        while true {
            let chunk = handle.availableData
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
        process.waitUntilExit()
        lock.withLock { reaped = true }
        return process.terminationReason == .uncaughtSignal
            ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// Asks the program to stop (SIGINT). A terminal's Ctrl-C already reached it when it shares our process group;
    /// the program treats signals that arrive together as one request.
    public func interrupt() {
        send(SIGINT)
    }

    /// Tells the program to quit (SIGTERM): for a program that no longer makes sense to Tailor.
    public func terminate() {
        send(SIGTERM)
    }

    // Foundation's `isRunning` can read false before the program has been waited for, so our own flag decides.
    private func send(_ signal: Int32) {
        lock.withLock {
            if !reaped { _ = kill(process.processIdentifier, signal) }
        }
    }

    /// Runs a program to completion, capturing both streams.
    public static func run(executable: URL, arguments: [String], environment: [String: String]) throws -> Output {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes before waiting, so a chatty program never blocks on a full pipe.
        let group = DispatchGroup()
        let errBox = DataBox()
        DispatchQueue.global().async(group: group) { errBox.set(err.fileHandleForReading.readDataToEndOfFile()) }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errBox.get(), as: UTF8.self))
    }

    private final class DataBox: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        func set(_ value: Data) { lock.withLock { data = value } }
        func get() -> Data { lock.withLock { data } }
    }
}
