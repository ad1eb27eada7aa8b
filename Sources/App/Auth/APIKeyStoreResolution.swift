import Core
import Storage

/// The API key store `buildApplication` uses: the one given, else the SQLite message store's own file.
func makeAPIKeyStore(injected: (any APIKeyStore)?, messageStore: any MessageStore) throws -> any APIKeyStore {
    if let injected { return injected }
    guard let sqlite = messageStore as? SQLiteMessageStore else {
        throw APIKeyManagementError(
            code: .invalidInput,
            message: "an injected message store that is not SQLite needs an API key store passed alongside it"
        )
    }
    return SQLiteAPIKeyStore(database: sqlite.database)
}
