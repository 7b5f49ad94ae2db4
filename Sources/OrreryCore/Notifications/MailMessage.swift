import Foundation

/// An RFC 5322 message as `sendmail -t -i` reads it on stdin (lines end in LF; sendmail
/// makes them CRLF on the wire): UTF-8 text, quoted-printable, headers with RFC 2047
/// encoded-words where they hold anything but printable ASCII.
///
/// No header can be injected: every header value has its control characters (CR, LF,
/// tabs, …) turned into spaces before it is written, so a task name, label or error text
/// can never end a header line and start another.
public struct MailMessage: Sendable, Hashable {
    public var from: String
    public var to: String
    public var subject: String
    public var body: String
    public var date: Timestamp
    public var messageID: String

    public init(from: String, to: String, subject: String, body: String, date: Timestamp, messageID: String) {
        self.from = from; self.to = to; self.subject = subject; self.body = body; self.date = date; self.messageID = messageID
    }

    /// The whole message: headers, a blank line, the quoted-printable body.
    public var rendered: String {
        let domain = from.split(separator: "@").last.map(String.init) ?? "orrery"
        let headers = [
            "From: \(Self.headerText(from))",
            "To: \(Self.headerText(to))",
            "Subject: \(Self.encodedWords(subject))",
            "Date: \(Self.rfc5322Date(date))",
            "Message-ID: <\(Self.headerText(messageID).filter { !" <>@".contains($0) })@\(Self.headerText(domain).filter { !" <>@".contains($0) })>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
            "Auto-Submitted: auto-generated",
        ]
        return headers.joined(separator: "\n") + "\n\n" + Self.quotedPrintable(body)
    }

    /// A header value with every control character (CR and LF included) made a space.
    public static func headerText(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
    }

    /// `text` as is when it is printable ASCII (and short), else RFC 2047 `=?UTF-8?B?…?=`
    /// words of at most 75 characters, split between characters and folded onto
    /// continuation lines (which start with a space, so they continue the same header).
    public static func encodedWords(_ text: String) -> String {
        let clean = headerText(text)
        if clean.unicodeScalars.allSatisfy({ $0.isASCII }), !clean.contains("=?"), clean.utf8.count <= 900 { return clean }
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in clean {
            let bytes = Array(String(character).utf8)
            // 45 bytes of UTF-8 make 60 characters of base64: the word stays under 75.
            if chunk.count + bytes.count > 45 {
                words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty || words.isEmpty { words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=") }
        return words.joined(separator: "\n ")
    }

    /// RFC 2045 quoted-printable of UTF-8 text: lines of at most 76 characters (soft breaks
    /// `=`), `=`, non-ASCII and control bytes as `=XX`, trailing spaces encoded; line
    /// breaks (LF, CRLF or CR) become LF.
    public static func quotedPrintable(_ text: String) -> String {
        let normalized = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        var out = ""
        for line in normalized.split(separator: "\n", omittingEmptySubsequences: false) {
            var current = ""
            let bytes = Array(line.utf8)
            for (i, byte) in bytes.enumerated() {
                let last = i == bytes.count - 1
                let piece: String
                if (byte >= 33 && byte <= 126 && byte != 61) || (byte == 32 && !last) || (byte == 9 && !last) {
                    piece = String(UnicodeScalar(byte))
                } else {
                    piece = "=" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
                }
                if current.count + piece.count > 75 {
                    out += current + "=\n"
                    current = ""
                }
                current += piece
            }
            out += current + "\n"
        }
        return out
    }

    /// `Wed, 02 Dec 2026 07:25:00 +0000`.
    public static func rfc5322Date(_ t: Timestamp) -> String {
        let seconds = t.microseconds >= 0 ? t.microseconds / 1_000_000 : (t.microseconds - 999_999) / 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let (year, month, day) = CivilDate.fromDays(days)
        let secondOfDay = seconds - days * 86_400
        let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let weekday = weekdays[Int(((days % 7) + 7) % 7)]
        func two(_ n: Int64) -> String { String(n).leftPadded(to: 2) }
        return "\(weekday), \(two(Int64(day))) \(months[month - 1]) \(year) \(two(secondOfDay / 3600)):\(two(secondOfDay % 3600 / 60)):\(two(secondOfDay % 60)) +0000"
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
