import App
import ArgumentParser
import ConfigurationFile
import Core
import Foundation
import Logging
import ServiceLifecycle
import Storage

/// `messagebridge`: the command line. Everything else lives in the libraries.
@main
struct MessageBridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "messagebridge",
        abstract: "Accepts webhooks, stores them durably and delivers them to Kafka or HTTP endpoints.",
        version: MessageBridgeVersion.current,
        subcommands: [Serve.self, Init.self, CheckConfig.self, Migrate.self, Messages.self, Keys.self, Endpoints.self, Backup.self, Restore.self],
        defaultSubcommand: Serve.self
    )
}

/// The `--config` option, also spelled `-config` as in the original MessageBridge.
struct ConfigOption: ParsableArguments {
    @Option(
        name: [.customLong("config"), .customLong("config", withSingleDash: true), .customShort("c")],
        help: "The configuration file."
    )
    var path: String = "config.yaml"

    /// Loads the configuration, or prints every problem and exits 1.
    func load() throws -> MessageBridgeConfiguration {
        let problems: [ConfigurationProblem]
        do {
            return try ConfigurationLoader(reservedPaths: reservedServerPaths).load(path: path)
        } catch {
            problems = error.problems
        }
        printError("invalid configuration \(path):\n" + problems.map { "  \($0)" }.joined(separator: "\n"))
        throw ExitCode(1)
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the server (the default command).")

    @OptionGroup var config: ConfigOption

    func run() async throws {
        let configuration = try config.load()
        LoggingSetup.bootstrap(settings: configuration.logging)
        let logger = Logger(label: "messagebridge")
        let metrics = bootstrapPrometheusMetrics()
        let app: any Service
        do {
            app = try await buildApplication(configuration: configuration, logger: logger, metrics: metrics)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: app)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            ).withShutdownTimeout(configuration.server.shutdownTimeout)
        )
        do {
            try await group.run()
        } catch {
            if "\(error)".contains("errno: \(EADDRINUSE))") {
                // NIO's bind error names neither the address nor the port.
                logger.critical(
                    "cannot listen on \(configuration.server.host):\(configuration.server.port): the address is already in use (another server, or server.port)",
                    metadata: ["error": "\(error)"]
                )
                throw ExitCode(2)
            }
            // A component failed while running: a supervisor should restart the process.
            logger.critical("stopped after a component failed; restart required", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        logger.info("stopped")
    }
}

extension ServiceGroupConfiguration {
    func withShutdownTimeout(_ timeout: Duration) -> ServiceGroupConfiguration {
        var copy = self
        copy.maximumGracefulShutdownDuration = timeout
        return copy
    }
}

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a commented starter configuration.")

    @Option(name: [.customLong("output"), .customShort("o")], help: "Where to write it.")
    var output: String = "config.yaml"

    @Flag(help: "Overwrite an existing file.")
    var force = false

    func run() throws {
        if FileManager.default.fileExists(atPath: output) && !force {
            printError("\(output) already exists; pass --force to overwrite it")
            throw ExitCode(1)
        }
        do {
            try StarterConfiguration.text.write(toFile: output, atomically: true, encoding: .utf8)
        } catch {
            printError("cannot write \(output): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        print("wrote \(output)")
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file and name every problem."
    )

    @Argument(help: "The configuration file (or use --config).")
    var file: String?

    @OptionGroup var config: ConfigOption

    func run() throws {
        var option = config
        if let file { option.path = file }
        let configuration = try option.load()
        print("\(option.path): OK (\(configuration.routes.count) routes, store \(configuration.sqlite.databasePath))")
    }
}

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the database, also while the server runs; or check one (--verify)."
    )

    @OptionGroup var config: ConfigOption

    @Option(name: [.customLong("output"), .customShort("o")], help: "The backup file to write.")
    var output: String?

    @Option(help: "Check a backup file instead: integrity and schema version, nothing changed.")
    var verify: String?

    func validate() throws {
        guard (output == nil) != (verify == nil) else { throw ValidationError("give --output FILE to write a backup, or --verify FILE to check one") }
    }

    func run() throws {
        if let verify {
            do {
                print(try SQLiteDatabase.verifyBackup(at: verify))
            } catch {
                printError("backup check failed: \(error)")
                throw ExitCode(1)
            }
            return
        }
        // validate() made sure one of the two is given.
        let output = output ?? ""
        let database = try config.openDatabase()
        do {
            try database.backup(to: output)
        } catch {
            printError("backup failed: \(error)")
            throw ExitCode(1)
        }
        print("wrote \(output)")
    }
}

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace the configured database with a backup (refused while a server runs; the replaced file is kept)."
    )

    @OptionGroup var config: ConfigOption

    @Argument(help: "The backup file (from `messagebridge backup` or a scheduled backup).")
    var file: String

    func run() throws {
        let path = try config.load().sqlite.databasePath
        do {
            let (report, replaced) = try SQLiteDatabase.restore(backup: file, to: path)
            print(report)
            print("restored \(file) to \(path)" + (replaced.map { "; the replaced database is kept as \($0)" } ?? ""))
        } catch {
            printError("restore refused: \(error)")
            throw ExitCode(1)
        }
    }
}
