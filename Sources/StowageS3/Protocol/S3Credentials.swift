/// The access keys the server accepts: access-key ID → secret key.
///
/// `region` is what the server says it is (GetBucketLocation, error bodies); requests
/// signed for any region are accepted, and verified against the region their scope names,
/// because clients pointed at a custom endpoint often sign for a region of their own.
public struct S3Credentials: Sendable {
    public static let defaultRegion = "us-east-1"

    public let region: String
    private let secretsByAccessKey: [String: String]
    /// Users' keys (the store's user directory, through the server's cache): consulted for
    /// a key that is not one of the server's own. Returns the key's user and secret.
    public var directory: (@Sendable (String) -> (user: String, secret: String)?)?

    public init(_ secretsByAccessKey: [String: String], region: String = S3Credentials.defaultRegion) {
        self.secretsByAccessKey = secretsByAccessKey
        self.region = region
    }

    /// The secret of `accessKey`, nil when the key is unknown.
    public func secretKey(for accessKey: String) -> String? {
        secretsByAccessKey[accessKey] ?? directory?(accessKey)?.secret
    }

    /// The server's own credentials are the administrator's: every bucket without an owner
    /// is theirs, and only they may use the admin API.
    public func isAdministrator(_ accessKey: String) -> Bool {
        secretsByAccessKey[accessKey] != nil
    }

    /// The user an access key belongs to; nil for the administrator's keys and unknown ones.
    public func user(of accessKey: String) -> String? {
        isAdministrator(accessKey) ? nil : directory?(accessKey)?.user
    }
}
