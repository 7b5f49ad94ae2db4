import Foundation

/// The opaque keyset cursor every store hands out for a listing's next page (the last
/// row's `seq`), so a cursor means the same thing whichever store issued it.
public enum PageCursor {
    public static func encode(_ seq: Int64) -> String {
        Data("s:\(seq)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func decode(_ cursor: String) throws -> Int64 {
        var b64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64), let text = String(data: data, encoding: .utf8),
              text.hasPrefix("s:"), let seq = Int64(text.dropFirst(2))
        else { throw OrreryError(.invalidField, "is not a cursor this server issued", field: "cursor") }
        return seq
    }
}

extension JSONValue {
    /// Decodes JSON a store wrote itself (with `JSONReader`, as `JSONDecoder` would read it,
    /// several times faster); corrupt text is an internal error, never the database's words.
    public static func fromStored(_ text: String) throws -> JSONValue {
        do {
            return try JSONReader.value(of: text)
        } catch {
            throw OrreryError(.internal, "stored JSON is corrupt")
        }
    }
}

extension RecordSummary {
    public static func + (lhs: RecordSummary, rhs: RecordSummary) -> RecordSummary {
        RecordSummary(ended: lhs.ended + rhs.ended, retriesScheduled: lhs.retriesScheduled + rhs.retriesScheduled)
    }
}

extension Page {
    /// The page from the rows of a query that read one more than `limit`: that extra row
    /// only says a next page exists, and the cursor points past the page's last item.
    public init(overfetched rows: [Item], limit: Int, totalCount: Int?, seq: (Item) -> Int64) {
        let items = Array(rows.prefix(limit))
        self.init(items: items, nextCursor: rows.count > limit ? items.last.map { PageCursor.encode(seq($0)) } : nil, totalCount: totalCount)
    }
}
