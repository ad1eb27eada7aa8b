import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Storage
import Testing
import Yams

@Suite("OpenAPI document")
struct OpenAPITests {
    static let httpMethods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    func makeApp(directory: TestDirectory) async throws -> (app: some ApplicationProtocol, ingestPaths: Set<String>) {
        let configuration = try writeConfiguration(
            testConfigurationYAML(directory: directory, routes: [("/hook", "http://127.0.0.1:1/")], initialBackoff: "1h", maxBackoff: "1h"),
            to: directory
        )
        let store = try SQLiteMessageStore(path: directory.databasePath)
        let app = try await buildApplication(configuration: configuration, logger: quietLogger, store: store)
        return (app, Set(configuration.routes.map(\.path)))
    }

    /// What the server serves, with the document it serves.
    struct Served {
        var status: HTTPResponse.Status
        var contentType: String?
        var text: String
        /// Every route the router serves, as the document names them (lower-case methods by path): each configured
        /// ingest route is the template `/{route}`, and the methods an ingest route registers only to refuse
        /// (`405` with `Allow: POST`, stated in the document's prose) are checked to do so and left out.
        var routes: [String: Set<String>]
        /// For each fixed path (templates filled in), its status, or 404 for the router's `not_found`.
        var probes: [String: HTTPResponse.Status]
    }

    /// The served document and the routes, read from the router `buildApplication` builds.
    func fetchDocument() async throws -> Served {
        let directory = TestDirectory()
        let recorder = ServedRouteRecorder()
        let (app, ingestPaths) = try await ServedRouteRecorder.$current.withValue(recorder) {
            try await makeApp(directory: directory)
        }
        let registered = try #require(recorder.routes, "buildApplication did not hand its router to ServedRouteRecorder")
        return try await app.test(.router) { client in
            let response = try await client.execute(uri: "/openapi.yaml", method: .get) { $0 }
            var routes: [String: Set<String>] = [:]
            for route in registered {
                let isIngest = ingestPaths.contains(route.path)
                if isIngest && route.method != .post {
                    let refusal = try await client.execute(uri: route.path, method: route.method) { $0 }
                    #expect(refusal.status == .methodNotAllowed && refusal.headers[.allow] == "POST", "\(route) answered \(refusal.status)")
                    continue
                }
                routes[isIngest ? "/{route}" : route.path, default: []].insert(route.method.rawValue.lowercased())
            }
            // Each fixed path (templates filled in) is routed: anything but the router's 404 for an unknown path.
            var probes: [String: HTTPResponse.Status] = [:]
            for (path, methods) in routes where path != "/{route}" {
                let uri = path.replacingOccurrences(of: "{id}", with: "x")
                let method = HTTPRequest.Method(try #require(methods.sorted().first).uppercased())!
                let probe = try await client.execute(uri: uri, method: method) { $0 }
                let code = (probe.json["error"] as? [String: Any])?["code"] as? String
                probes[path] = code == "not_found" ? .notFound : probe.status
            }
            probes["/hook"] = try await client.postWebhook("/hook", body: "{}").status
            return Served(
                status: response.status, contentType: response.headers[.contentType], text: String(buffer: response.body),
                routes: routes, probes: probes
            )
        }
    }

    @Test("GET /openapi.yaml serves an OpenAPI 3.1 YAML document describing every route the router serves")
    func documentDescribesEveryRoute() async throws {
        let served = try await fetchDocument()
        let (status, contentType, text, probes) = (served.status, served.contentType, served.text, served.probes)
        #expect(status == .ok)
        #expect(contentType?.hasPrefix("application/yaml") == true)
        #expect(text == OpenAPIDocument.yaml)

        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
        // The version is the server's one constant, as a string.
        #expect((document["info"] as? [String: Any])?["version"] as? String == MessageBridgeVersion.current)
        let paths = try #require(document["paths"] as? [String: Any])
        // The router was read whole: routes added before and after the OpenAPI controller, and the ingest template.
        #expect(served.routes["/health"] == ["get"] && served.routes["/openapi.yaml"] == ["get"] && served.routes["/{route}"] == ["post"])
        for (path, methods) in served.routes.sorted(by: { $0.key < $1.key }) {
            let item = paths[path] as? [String: Any]
            #expect(item != nil, "\(path) is served but not documented")
            let documented = Set((item ?? [:]).keys.filter(Self.httpMethods.contains))
            #expect(documented == methods, "\(path): documented \(documented.sorted()), served \(methods.sorted())")
        }
        // Nothing documented that the server does not serve.
        #expect(Set(paths.keys) == Set(served.routes.keys))
        // Every fixed path the router lists is routed (an unknown one answers not_found).
        for path in served.routes.keys where path != "/{route}" {
            #expect(probes[path] != nil && probes[path] != .notFound, "\(path) answered \(String(describing: probes[path]))")
        }
        #expect(probes["/hook"] == .accepted)

        let components = try #require(document["components"] as? [String: Any])
        let schemes = try #require(components["securitySchemes"] as? [String: Any])
        let bearer = try #require(schemes["bearerAuth"] as? [String: Any])
        #expect(bearer["type"] as? String == "http")
        #expect(bearer["scheme"] as? String == "bearer")
        let schemas = try #require(components["schemas"] as? [String: Any])
        let error = try #require(schemas["Error"] as? [String: Any])
        let errorInner = try #require((error["properties"] as? [String: Any])?["error"] as? [String: Any])
        #expect(Set((errorInner["properties"] as? [String: Any] ?? [:]).keys) == ["code", "message"])
        let accepted = try #require(schemas["IngestAccepted"] as? [String: Any])
        #expect(Set((accepted["properties"] as? [String: Any] ?? [:]).keys) == ["message_id", "status", "timestamp"])
        // The ingest template documents the answers a route gives.
        let ingest = try #require((paths["/{route}"] as? [String: Any])?["post"] as? [String: Any])
        let responses = try #require(ingest["responses"] as? [String: Any])
        #expect(Set(["202", "200", "401", "413", "429", "503"]).isSubset(of: Set(responses.keys)))
        // Admin operations need the bearer scheme.
        for (path, item) in paths where path.hasPrefix("/api/v1/admin/") {
            for (method, operation) in item as? [String: Any] ?? [:] where Self.httpMethods.contains(method) {
                let security = (operation as? [String: Any])?["security"] as? [[String: Any]]
                #expect(security?.contains { $0["bearerAuth"] != nil } == true, "\(method) \(path) has no bearerAuth")
            }
        }
    }

    /// The named schema's properties, through `allOf` and `$ref`s to other component schemas: for each property
    /// name, every schema a part gives it.
    static func properties(of name: String, in schemas: [String: Any]) -> [String: [[String: Any]]] {
        var found: [String: [[String: Any]]] = [:]
        func collect(_ schema: [String: Any]) {
            if let ref = schema["$ref"] as? String, let target = schemas[String(ref.split(separator: "/").last ?? "")] as? [String: Any] {
                collect(target)
            }
            for part in schema["allOf"] as? [[String: Any]] ?? [] { collect(part) }
            for (property, value) in schema["properties"] as? [String: Any] ?? [:] {
                found[property, default: []].append(value as? [String: Any] ?? [:])
            }
        }
        collect(schemas[name] as? [String: Any] ?? [:])
        return found
    }

    @Test("error codes, the duration pattern and the message shapes in the document are the server's")
    func documentMatchesServer() async throws {
        let document = try #require(try Yams.load(yaml: OpenAPIDocument.yaml) as? [String: Any])
        let components = try #require(document["components"] as? [String: Any])
        let responses = try #require(components["responses"] as? [String: Any])
        let schemas = try #require(components["schemas"] as? [String: Any])

        // Every code a key operation can refuse with is named under the status the admin API gives it.
        func description(_ response: String) -> String {
            (responses[response] as? [String: Any])?["description"] as? String ?? ""
        }
        for code in APIKeyManagementError.Code.allCases {
            let response = switch code {
            case .notFound: "NotFound"
            case .ambiguous, .notActive: "Conflict"
            case .invalidInput: "BadRequest"
            }
            #expect(description(response).contains("`\(code.rawValue)`"), "\(code.rawValue) is not documented under \(response)")
        }

        // What the duration patterns allow, the server's parser takes (and, for a positive one, finds above zero);
        // what the parser refuses, the patterns do not allow.
        func pattern(_ name: String) throws -> (matches: (String) -> Bool, example: String) {
            let schema = try #require(schemas[name] as? [String: Any])
            let regex = try NSRegularExpression(pattern: try #require(schema["pattern"] as? String))
            let matches = { (text: String) in regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil }
            return (matches, try #require(schema["example"] as? String))
        }
        let duration = try pattern("Duration"), positive = try pattern("PositiveDuration")
        for text in ["500ms", "30s", "5m", "1h30m", "1.5h", "90d", "0.001s", "999999.999d" + String(repeating: "999999d", count: 9), duration.example] {
            #expect(duration.matches(text) && positive.matches(text), "\(text)")
            #expect((ConfigDuration.parse(text) ?? .zero) > .zero, "\(text)")
        }
        for text in ["0s", "0ms", "00.000h"] {
            #expect(duration.matches(text) && !positive.matches(text) && ConfigDuration.parse(text) == .zero, "\(text)")
        }
        #expect(positive.matches(positive.example))
        for text in ["", "5", "soon", "5 s", "-5s", "1y", "h", "1.2.3s", "5sm"] {
            #expect(!duration.matches(text) && ConfigDuration.parse(text) == nil, "\(text)")
        }

        // A listed message counts its attempts; a shown one lists them.
        let summaryAttempts = Self.properties(of: "MessageSummary", in: schemas)["attempts"] ?? []
        #expect(!summaryAttempts.isEmpty && summaryAttempts.allSatisfy { $0["type"] as? String == "integer" })
        let detailAttempts = Self.properties(of: "MessageDetail", in: schemas)["attempts"] ?? []
        #expect(!detailAttempts.isEmpty && detailAttempts.allSatisfy { $0["type"] as? String == "array" })
        let fixture = try KeyedApp()
        let admin = try await fixture.keys.create(name: "root", scope: .admin, expiresIn: nil)
        let app = try await fixture.build()
        try await app.test(.router) { client in
            let accepted = try await client.postWebhook("/hook", body: "{}")
            let id = try #require(accepted.json["message_id"] as? String)
            let list = try await client.execute(uri: "/api/v1/admin/messages", method: .get, headers: .bearer(admin.secret)) { $0 }
            let listed = try #require((list.json["messages"] as? [[String: Any]])?.first)
            #expect(listed["attempts"] is Int)
            let shown = try await client.execute(uri: "/api/v1/admin/messages/\(id)", method: .get, headers: .bearer(admin.secret)) { $0 }
            #expect(shown.status == .ok)
            #expect(shown.json["attempts"] is [Any])

            // `expires_in: null` is documented as "never expires", as when it is left out.
            let created = try await client.execute(
                uri: "/api/v1/admin/keys", method: .post, headers: .bearer(admin.secret),
                body: ByteBuffer(string: #"{"name":"forever","expires_in":null}"#)
            ) { $0 }
            #expect(created.status == .created)
            #expect(created.json["expires_at"] is NSNull)
        }
    }

    /// Whether `python3 -m openapi_spec_validator` can run (scripts/setup.sh installs the module).
    static let hasSpecValidator = runPython(["-c", "import openapi_spec_validator"]).status == 0

    /// Runs `python3` (found on PATH) with `arguments`; status 127 when it cannot be started.
    static func runPython(_ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (127, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test(
        "the served document passes openapi-spec-validator",
        .enabled(if: OpenAPITests.hasSpecValidator, "python3 with openapi-spec-validator is not installed (scripts/setup.sh installs it)")
    )
    func documentValidates() async throws {
        let served = try await fetchDocument()
        let (status, text) = (served.status, served.text)
        #expect(status == .ok)
        let directory = TestDirectory()
        let file = directory.path + "/openapi.yaml"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let result = Self.runPython(["-m", "openapi_spec_validator", file])
        #expect(result.status == 0, "openapi-spec-validator: \(result.output)")
    }
}
