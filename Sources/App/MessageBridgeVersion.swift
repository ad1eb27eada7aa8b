/// The server's version, reported by `/status`, `/health`, `--version`, the HTTP sink's User-Agent and the OpenAPI
/// document's `info.version` (filled into `Resources/openapi.yaml` when it is read).
public enum MessageBridgeVersion {
    /// The version string.
    public static let current = "0.1.0"
}
