/// The access keys the server accepts: access-key ID → secret key.
///
/// `region` is what the server says it is (GetBucketLocation, error bodies); requests
/// signed for any region are accepted, and verified against the region their scope names,
/// because clients pointed at a custom endpoint often sign for a region of their own.
public struct S3Credentials: Sendable {
    public static let defaultRegion = "us-east-1"

    public let region: String
    private let secretsByAccessKey: [String: String]

    public init(_ secretsByAccessKey: [String: String], region: String = S3Credentials.defaultRegion) {
        self.secretsByAccessKey = secretsByAccessKey
        self.region = region
    }

    /// The secret of `accessKey`, nil when the key is unknown.
    public func secretKey(for accessKey: String) -> String? {
        secretsByAccessKey[accessKey]
    }
}
