import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import NIOCore
import Storage
import Synchronization
import Testing

/// The signing secret chat tests configure (32 bytes or more, as the loader demands).
let chatTestSecret = "test-secret-0123456789abcdef0123456789"

/// A server with chat, on a fresh database, with a clock the test moves and cheap bcrypt.
struct ChatApp {
    let directory = TestDirectory()
    let clock = TestWallClock()
    let store: SQLiteMessageStore
    let keys: APIKeyManager
    let configuration: MessageBridgeConfiguration

    init(extra: String = "", auth: String = "") throws {
        var yaml = testConfigurationYAML(directory: directory, routes: [("/hook", "http://127.0.0.1:1/")], initialBackoff: "1h", maxBackoff: "1h")
        yaml += "\nauth:\n  bcrypt_cost: 4\n  jwt_secret: \"\(chatTestSecret)\"\n" + auth
        yaml += extra
        configuration = try writeConfiguration(yaml, to: directory)
        store = try SQLiteMessageStore(path: directory.databasePath, clock: clock)
        keys = APIKeyManager(store: SQLiteAPIKeyStore(database: store.database), clock: clock)
    }

    func build() async throws -> some ApplicationProtocol {
        try await buildApplication(configuration: configuration, logger: quietLogger, store: store, clock: clock)
    }
}

/// A test request that failed, naming the request and how long it waited.
struct CallFailure: Error, CustomStringConvertible {
    var request: String
    var elapsed: Duration
    var error: any Error
    var description: String { "\(request) failed after \(elapsed): \(error)" }
}

/// A signed-in test user.
struct ChatUserSession {
    var id: Int64
    var username: String
    var accessToken: String
    var refreshToken: String

    var bearer: HTTPFields { [.authorization: "Bearer \(accessToken)", .contentType: "application/json"] }
}

extension TestClientProtocol {
    /// Sends `body` (JSON text) with `headers` and returns the response.
    func call(_ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [.contentType: "application/json"], body: String? = nil) async throws -> TestResponse {
        let start = ContinuousClock.now
        do {
            return try await execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { $0 }
        } catch {
            throw CallFailure(request: "\(method) \(uri)", elapsed: ContinuousClock.now - start, error: error)
        }
    }

    /// Registers `username` (password `correct horse`) and returns the signed-in session.
    func register(_ username: String, password: String = "correct horse") async throws -> ChatUserSession {
        let response = try await call(.post, "/api/v1/auth/register", body: #"{"username":"\#(username)","email":"\#(username)@example.com","password":"\#(password)"}"#)
        #expect(response.status == .created, "\(String(buffer: response.body))")
        let json = response.json
        let user = try #require(json["user"] as? [String: Any])
        return ChatUserSession(
            id: try #require((user["id"] as? NSNumber)?.int64Value), username: username,
            accessToken: try #require(json["access_token"] as? String), refreshToken: try #require(json["refresh_token"] as? String)
        )
    }

    /// Creates a room as `owner` and returns its id.
    func createRoom(_ name: String, visibility: String = "public", as owner: ChatUserSession) async throws -> Int64 {
        let response = try await call(.post, "/api/v1/rooms", headers: owner.bearer, body: #"{"name":"\#(name)","visibility":"\#(visibility)"}"#)
        #expect(response.status == .created, "\(String(buffer: response.body))")
        return try #require((response.json["id"] as? NSNumber)?.int64Value)
    }

    /// Sends `content` to `room` as `user` and returns the message JSON.
    @discardableResult
    func send(_ content: String, to room: Int64, as user: ChatUserSession, clientID: String? = nil) async throws -> [String: Any] {
        let client = clientID.map { #","client_id":"\#($0)""# } ?? ""
        let response = try await call(.post, "/api/v1/rooms/\(room)/messages", headers: user.bearer, body: #"{"content":"\#(content)"\#(client)}"#)
        #expect(response.status == .created || response.status == .ok, "\(String(buffer: response.body))")
        return response.json
    }
}

extension TestResponse {
    /// The body as a JSON array of objects.
    var jsonArray: [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [[String: Any]] ?? []
    }
}

/// A real WebSocket client over loopback that records every text frame it receives and how the socket closed.
final class SocketProbe: Sendable {
    let frames = Mutex<[String]>([])
    private let writer = Mutex<WebSocketOutboundWriter?>(nil)
    private let closeFrame = Mutex<WebSocketCloseFrame?>(nil)
    private let ended = Mutex(false)
    /// Ends when the client may read; until then it does not, and the server's writes back up (a slow reader).
    private let readGate: AsyncStream<Void>
    private let openReadGate: AsyncStream<Void>.Continuation
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// Connects to `path` (e.g. `/ws?token=...`) on `port`.
    init(port: Int, path: String, reading: Bool = true) {
        (readGate, openReadGate) = AsyncStream.makeStream(of: Void.self)
        if reading { openReadGate.finish() }
        let url = "ws://127.0.0.1:\(port)\(path)"
        task.withLock { slot in
            slot = Task { [self] in
                let close = try? await WebSocketClient.connect(
                    url: url, configuration: .init(maxFrameSize: 1 << 22), logger: quietLogger
                ) { inbound, outbound, _ in
                    self.writer.withLock { $0 = outbound }
                    for await _ in self.readGate {}
                    for try await message in inbound.messages(maxSize: 1 << 22) {
                        if case .text(let text) = message { self.frames.withLock { $0.append(text) } }
                    }
                }
                closeFrame.withLock { $0 = close ?? nil }
                ended.withLock { $0 = true }
            }
        }
    }

    /// Starts reading (for a probe made with `reading: false`).
    func startReading() { openReadGate.finish() }

    /// The frames received so far, parsed.
    var events: [[String: Any]] {
        frames.withLock { $0 }.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    /// Received frames of `type`.
    func events(_ type: String) -> [[String: Any]] { events.filter { $0["type"] as? String == type } }

    /// The positions of log events (not the `ready` frame).
    var eventPositions: [Int64] {
        events.filter { ($0["type"] as? String).map { $0.contains(".") } ?? false }.compactMap { ($0["position"] as? NSNumber)?.int64Value }
    }

    /// True once the socket has closed.
    var hasEnded: Bool { ended.withLock { $0 } }

    /// The close code the server sent, once closed.
    var closeCode: UInt16? {
        closeFrame.withLock { frame in
            guard let frame else { return nil }
            switch frame.closeCode {
            case .unknown(let code): return code
            case .normalClosure: return 1000
            case .goingAway: return 1001
            case .protocolError: return 1002
            case .messageTooLarge: return 1009
            default: return 0
            }
        }
    }

    /// Sends one text frame (waits until the socket is open).
    func send(_ text: String) async throws {
        #expect(await eventually { self.writer.withLock { $0 != nil } })
        let writer = try #require(self.writer.withLock { $0 })
        try await writer.write(.text(text))
    }

    /// Closes the socket from the client side.
    func close() async {
        if let writer = writer.withLock({ $0 }) { try? await writer.close(.normalClosure, reason: nil) }
        _ = await eventually { self.hasEnded }
    }

    /// Waits until `condition` holds over the received events.
    func wait(timeout: Duration = .seconds(30), _ condition: @escaping @Sendable (SocketProbe) -> Bool) async -> Bool {
        await eventually(timeout: timeout) { condition(self) }
    }

    deinit {
        task.withLock { $0?.cancel() }
    }
}
