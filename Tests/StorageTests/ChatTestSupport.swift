import Core

/// A chat event bus that drops every event: for store tests that read the store, not the sockets.
struct NoChatBus: ChatEventBus {
    func publish(_ events: [ChatEvent]) {}
}
