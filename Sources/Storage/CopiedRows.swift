import Core
import GRDB
import GRDBSQLite

/// Rows of ``SQLiteMessageStore/columns`` copied out of a stepping statement as bytes, for claims.
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
    /// The number of columns in ``SQLiteMessageStore/columns``.
    private static let columnCount = 16

    private var bytes: [UInt8] = []
    private var cells: [Cell] = []

    /// Rows copied so far.
    var count: Int { cells.count / Self.columnCount }

    /// Copies the row `statement` stands on (it must select ``SQLiteMessageStore/columns``).
    mutating func appendCurrentRow(of statement: Statement) {
        let handle = statement.sqliteStatement
        for column in 0..<Int32(Self.columnCount) {
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

    private func cell(_ row: Int, _ column: Int) -> Cell { cells[row * Self.columnCount + column] }

    private func integer(_ row: Int, _ column: Int) -> Int64? {
        let cell = cell(row, column)
        return cell.length == Self.integerLength ? cell.value : nil
    }

    private func bytes(_ row: Int, _ column: Int) -> ArraySlice<UInt8>? {
        let cell = cell(row, column)
        guard cell.length >= 0 else { return nil }
        return bytes[Int(cell.value)..<Int(cell.value) + Int(cell.length)]
    }

    private func text(_ row: Int, _ column: Int) -> String? {
        bytes(row, column).map { String(decoding: $0, as: UTF8.self) }
    }

    // Column positions in `SQLiteMessageStore.columns`: id 0, status 6, next_attempt_at 9, seq 15.

    func seq(at row: Int) -> Int64 { integer(row, 15) ?? 0 }
    func id(at row: Int) -> String { text(row, 0) ?? "" }
    func nextAttemptAt(at row: Int) -> Int64 { integer(row, 9) ?? 0 }
    func status(at row: Int) -> MessageStatus { text(row, 6).flatMap(MessageStatus.init(rawValue:)) ?? .pending }

    /// Row `row` as Swift values.
    func rawRow(at row: Int) -> SQLiteMessageStore.RawMessageRow {
        SQLiteMessageStore.RawMessageRow(
            id: text(row, 0) ?? "", route: text(row, 1) ?? "", destinationKind: text(row, 2) ?? "",
            destination: text(row, 3) ?? "", headers: bytes(row, 4) ?? [], body: Array(bytes(row, 5) ?? []),
            status: text(row, 6) ?? "", attemptCount: Int(integer(row, 7) ?? 0), attemptBase: Int(integer(row, 8) ?? 0),
            nextAttemptAt: integer(row, 9), lastError: text(row, 10), lastStatusCode: integer(row, 11).map { Int($0) },
            acceptedAt: integer(row, 12) ?? 0, updatedAt: integer(row, 13) ?? 0, deliveredAt: integer(row, 14),
            seq: integer(row, 15) ?? 0
        )
    }
}

extension SQLiteMessageStore.RawMessageRow {
    init(
        id: String, route: String, destinationKind: String, destination: String, headers: ArraySlice<UInt8>, body: [UInt8],
        status: String, attemptCount: Int, attemptBase: Int, nextAttemptAt: Int64?, lastError: String?,
        lastStatusCode: Int?, acceptedAt: Int64, updatedAt: Int64, deliveredAt: Int64?, seq: Int64
    ) {
        (self.id, self.route, self.destinationKind, self.destination) = (id, route, destinationKind, destination)
        (self.headers, self.body, self.status) = (headers, body, status)
        (self.attemptCount, self.attemptBase, self.nextAttemptAt) = (attemptCount, attemptBase, nextAttemptAt)
        (self.lastError, self.lastStatusCode) = (lastError, lastStatusCode)
        (self.acceptedAt, self.updatedAt, self.deliveredAt, self.seq) = (acceptedAt, updatedAt, deliveredAt, seq)
    }
}
