import AsyncHTTPClient
import Foundation
import NIOCore

/// The built `messagebridge` binary: `MESSAGEBRIDGE_BINARY`, else `.build/debug/messagebridge` beside the tests.
func messagebridgeBinary() throws -> String {
    if let path = ProcessInfo.processInfo.environment["MESSAGEBRIDGE_BINARY"] { return path }
    var candidates: [String] = []
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var directory = testBinary.deletingLastPathComponent()
    for _ in 0..<5 {
        candidates.append(directory.appendingPathComponent("messagebridge").path)
        directory = directory.deletingLastPathComponent()
    }
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    candidates.append(packageRoot.appendingPathComponent(".build/debug/messagebridge").path)
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw CLIError(message: "messagebridge binary not found; run swift build first (looked in \(candidates))")
    }
    return found
}

struct CLIError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Runs the binary to completion and returns its exit status and combined output.
func runCLI(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try messagebridgeBinary())
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// `messagebridge serve` as a child process, for crash and signal tests.
final class ServerProcess: @unchecked Sendable {
    // Only touched from the test's own task, one call at a time.
    let process = Process()
    let port: Int
    let logPath: String

    init(configPath: String, port: Int, logPath: String) throws {
        self.port = port
        self.logPath = logPath
        process.executableURL = URL(fileURLWithPath: try messagebridgeBinary())
        process.arguments = ["serve", "-config", configPath]
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits until `/health/live` answers.
    func waitUntilLive(client: HTTPClient, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw CLIError(message: "server exited early: \(log)") }
            if let response = try? await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/health/live"), timeout: .seconds(1)) {
                // Read the body so the connection goes back to the pool.
                _ = try? await response.body.collect(upTo: 1 << 16)
                if response.status == .ok { return }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CLIError(message: "server did not become live (\(logPath)): \(log)")
    }

    func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for the process to exit and returns its status.
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                kill(process.processIdentifier, SIGKILL)
                throw CLIError(message: "server did not exit in time: \(log)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// POSTs a webhook with AsyncHTTPClient; returns the message id of a 202, or nil for anything else.
func postWebhook(client: HTTPClient, port: Int, path: String, body: String) async -> String? {
    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    request.body = .bytes(ByteBuffer(string: body))
    guard let response = try? await client.execute(request, timeout: .seconds(10)),
          let bytes = try? await response.body.collect(upTo: 1 << 16),
          response.status == .accepted,
          let json = try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any]
    else { return nil }
    return json["message_id"] as? String
}

/// Runs `body` with a fresh HTTP client that is shut down afterwards, whether `body` throws or not.
func withHTTPClient<Value>(_ body: (HTTPClient) async throws -> Value) async throws -> Value {
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    do {
        let value = try await body(client)
        try await client.shutdown()
        return value
    } catch {
        try? await client.shutdown()
        throw error
    }
}
