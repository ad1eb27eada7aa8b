import Core
import GRDB
import GRDBSQLite

/// Rows of ``MessageColumn/selection`` copied out of a stepping statement as bytes, for claims.
///
/// A claim runs on the single SQLite writer, which ingest and outcomes wait for. Making a `String`, `Data` or array
/// per column there (sixteen columns, several thousand rows a second) kept the writer busy for about as long as the
/// SQLite reads themselves; here the writer only copies each row's text and blob bytes into one buffer and its
/// integers into one array, and the Swift values are made after the writer is released (``rawRow(at:)``).
struct CopiedRows: Sendable {
    /// One column of one row: an integer column's value, or where a text or blob column's bytes are in `bytes`.
    private struct Cell {
        /// The integer, or the offset in `bytes`.
        var value: Int64
        /// Byte count for text and blob, `integerLength` for an integer, `nullLength` for NULL.
        var length: Int32
    }

    private static let integerLength: Int32 = -1
    private static let nullLength: Int32 = -2

    private var bytes: [UInt8] = []
    private var cells: [Cell] = []

    /// Rows copied so far.
    var count: Int { cells.count / MessageColumn.count }

    /// Copies the row `statement` stands on (it must select ``MessageColumn/selection``).
    mutating func appendCurrentRow(of statement: Statement) {
        let handle = statement.sqliteStatement
        for column in 0..<Int32(MessageColumn.count) {
            switch sqlite3_column_type(handle, column) {
            case SQLITE_NULL:
                cells.append(Cell(value: 0, length: Self.nullLength))
            case SQLITE_INTEGER, SQLITE_FLOAT:
                cells.append(Cell(value: sqlite3_column_int64(handle, column), length: Self.integerLength))
            default:
                // Text or blob: the bytes as stored (no conversion for either), valid until the next step.
                let length = sqlite3_column_bytes(handle, column)
                let offset = Int64(bytes.count)
                if length > 0, let start = sqlite3_column_blob(handle, column) {
                    bytes.append(contentsOf: UnsafeRawBufferPointer(start: start, count: Int(length)))
                }
                cells.append(Cell(value: offset, length: max(length, 0)))
            }
        }
    }

    private func cell(_ row: Int, _ column: MessageColumn) -> Cell { cells[row * MessageColumn.count + column.rawValue] }

    private func integer(_ row: Int, _ column: MessageColumn) -> Int64? {
        let cell = cell(row, column)
        return cell.length == Self.integerLength ? cell.value : nil
    }

    private func bytes(_ row: Int, _ column: MessageColumn) -> ArraySlice<UInt8>? {
        let cell = cell(row, column)
        guard cell.length >= 0 else { return nil }
        return bytes[Int(cell.value)..<Int(cell.value) + Int(cell.length)]
    }

    private func text(_ row: Int, _ column: MessageColumn) -> String? {
        bytes(row, column).map { String(decoding: $0, as: UTF8.self) }
    }

    func seq(at row: Int) -> Int64 { integer(row, .seq) ?? 0 }
    func id(at row: Int) -> String { text(row, .id) ?? "" }
    func nextAttemptAt(at row: Int) -> Int64 { integer(row, .nextAttemptAt) ?? 0 }
    func status(at row: Int) -> MessageStatus { text(row, .status).flatMap(MessageStatus.init(rawValue:)) ?? .pending }

    /// Row `row` as Swift values.
    func rawRow(at row: Int) -> RawMessageRow {
        RawMessageRow(
            id: text(row, .id) ?? "", route: text(row, .route) ?? "", destinationKind: text(row, .destinationKind) ?? "",
            destination: text(row, .destination) ?? "", headers: bytes(row, .headers) ?? [],
            body: Array(bytes(row, .body) ?? []), status: text(row, .status) ?? "",
            attemptCount: Int(integer(row, .attemptCount) ?? 0), attemptBase: Int(integer(row, .attemptBase) ?? 0),
            nextAttemptAt: integer(row, .nextAttemptAt), lastError: text(row, .lastError),
            lastStatusCode: integer(row, .lastStatusCode).map { Int($0) }, acceptedAt: integer(row, .acceptedAt) ?? 0,
            updatedAt: integer(row, .updatedAt) ?? 0, deliveredAt: integer(row, .deliveredAt), seq: integer(row, .seq) ?? 0
        )
    }
}
