import Foundation

/// Base64, as S3 writes checksums.
func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

extension String {
    /// Zero-padded on the left to `width` characters (hex ids).
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
