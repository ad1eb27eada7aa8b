import Foundation
import Core
import Logging

/// Writes one JSON object a line to standard output: `ts`, `level`, `msg`, `logger` and every metadata value.
/// Each line goes out in a single `write`, so lines from concurrent tasks never interleave.
public struct JSONLogHandler: LogHandler {
    /// The handler's metadata.
    public var metadata: Logger.Metadata = [:]
    /// The lowest level written.
    public var logLevel: Logger.Level
    private let label: String
    private let fileDescriptor: Int32

    /// Makes a handler for `label` at `level`, writing to `fileDescriptor` (standard output by default).
    public init(label: String, level: Logger.Level, fileDescriptor: Int32 = 1) {
        self.label = label
        self.logLevel = level
        self.fileDescriptor = fileDescriptor
    }

    /// A metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one line.
    public func log(event: LogEvent) {
        let level = event.level, message = event.message, explicitMetadata = event.metadata
        var text = #"{"ts":"\#(Date().formatted(Self.timestampStyle))","level":"\#(level.rawValue)","msg":\#(jsonString(message.description)),"logger":\#(jsonString(label))"#
        var merged = metadata
        if let explicitMetadata { merged.merge(explicitMetadata) { _, new in new } }
        if let error = event.error { merged["error"] = "\(error)" }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            text += ",\(jsonString(key)):\(Self.json(value))"
        }
        text += "}\n"
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    private static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let string): jsonString(string)
        case .stringConvertible(let convertible): jsonString(convertible.description)
        case .array(let values): "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let dictionary):
            "{" + dictionary.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(json($0.value))" }.joined(separator: ",") + "}"
        }
    }
}

/// Sets up swift-log for the process: JSON (or plain text) at the given level, `LOG_LEVEL` winning.
public enum LoggingSetup {
    /// Bootstraps the logging system once per process.
    public static func bootstrap(settings: LoggingSettings, environment: [String: String] = ProcessInfo.processInfo.environment) {
        let level = Logger.Level(rawValue: (environment["LOG_LEVEL"] ?? settings.level.rawValue).lowercased()) ?? .info
        if settings.format == .text {
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardOutput(label: label)
                handler.logLevel = level
                return handler
            }
        } else {
            LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        }
    }
}
