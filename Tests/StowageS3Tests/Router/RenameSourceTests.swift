import Testing
@testable import StowageS3

/// `x-amz-rename-source` as the S3 layer reads it (S3-SEMANTICS.md, "Source format"); the
/// engine takes the decoded keys.
@Suite struct RenameSourceTests {
    struct Row: Sendable, CustomTestStringConvertible {
        let header: String
        let key: String
        let fallback: String?
        var testDescription: String { header }
    }

    static let rows: [Row] = [
        Row(header: "src", key: "src", fallback: nil),
        Row(header: "/src", key: "src", fallback: nil),
        Row(header: "%2Fsrc", key: "src", fallback: nil),
        Row(header: "s%72c", key: "src", fallback: nil),
        Row(header: "bkt/src", key: "bkt/src", fallback: "src"),
        Row(header: "/bkt/src", key: "bkt/src", fallback: "src"),
        Row(header: "a+b", key: "a+b", fallback: nil),
        Row(header: "a%20b", key: "a b", fallback: nil),
        Row(header: "100%", key: "100%", fallback: nil),
        Row(header: "other/k", key: "other/k", fallback: nil),
        Row(header: "bkt/", key: "bkt/", fallback: nil),
    ]

    @Test(arguments: rows)
    func decodes(_ row: Row) {
        let (key, fallback) = Handlers.renameSourceKeys(row.header, bucket: "bkt")
        #expect(key == row.key)
        #expect(fallback == row.fallback)
    }
}
