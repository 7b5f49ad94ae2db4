import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The dashboard's stylesheet and script, compiled into the executable
/// (`DashboardAssets+Embedded.swift`, written by `scripts/embed-dashboard-assets` from
/// `Dashboard/Assets/`), so a binary copied alone serves them. Pages link them with
/// `?v=<version>`: a changed asset has a new URL, so browsers may keep each one for a year.
enum DashboardAssets {
    struct Asset: Sendable {
        let bytes: [UInt8]
        let contentType: String
        /// The first 16 hex digits of the content's SHA-256: the ETag and the URL's `v`.
        let version: String

        init(_ text: String, contentType: String) {
            bytes = Array(text.utf8)
            self.contentType = contentType
            version = String(SHA256.hash(data: Data(bytes)).map { String(format: "%02x", $0) }.joined().prefix(16))
        }

        var etag: String { "\"\(version)\"" }

        /// 304 when the browser holds this version, else the bytes; cacheable for a year
        /// when the request names the current version, else for a minute (then revalidated).
        func response(for request: Request) -> Response {
            let versioned = request.uri.queryParameters["v"].map(String.init) == version
            var headers: HTTPFields = [
                .eTag: etag,
                .cacheControl: versioned ? "public, max-age=31536000, immutable" : "public, max-age=60, must-revalidate",
            ]
            if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag }) {
                return Response(status: .notModified, headers: headers)
            }
            headers[.contentType] = contentType
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    static let css = Asset(cssText, contentType: "text/css; charset=utf-8")
    static let js = Asset(jsText, contentType: "text/javascript; charset=utf-8")

    static func named(_ name: String) -> Asset? {
        switch name {
        case "dashboard.css": css
        case "dashboard.js": js
        default: nil
        }
    }
}
