/// The server's version, reported by `/status`, `--version` and the HTTP sink's User-Agent.
public enum MessageBridgeVersion {
    /// The version string.
    public static let current = "0.1.0"
}
