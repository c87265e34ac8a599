import Synchronization

/// Derived SigV4 signing keys by secret and scope. The derivation — four HMAC-SHA256s,
/// `"AWS4" + secret` over the day, the region, the service and `aws4_request` — depends on
/// nothing else, so all of a client's requests on one day share one key (issue 18, point 3).
///
/// Keyed by the secret itself, not the access key: a rotated or removed secret can never be
/// answered with the old one's key. Bounded by `maxEntries`; when full it is emptied and
/// refilled (a day's keys are few: one per secret, region and service in use).
final class SigV4SigningKeyCache: Sendable {
    static let maxEntries = 1024

    private struct Key: Hashable {
        let secret: String
        let scope: String
    }

    private let entries = Mutex<[Key: SigV4SigningKey]>([:])

    var count: Int { entries.withLock { $0.count } }

    /// The key for `scope` (`day/region/service/aws4_request`, split in `scopeElements`).
    func signingKey(secret: String, scope: String, scopeElements: [Substring]) -> [UInt8] {
        prepared(secret: secret, scope: scope, scopeElements: scopeElements).bytes
    }

    /// The same key, with HMAC keyed by it for signing.
    func prepared(secret: String, scope: String, scopeElements: [Substring]) -> SigV4SigningKey {
        let key = Key(secret: secret, scope: scope)
        if let cached = entries.withLock({ $0[key] }) { return cached }
        let derived = SigV4SigningKey(SigV4SigningContext.deriveSigningKey(secret: secret, scopeElements: scopeElements))
        entries.withLock { entries in
            if entries.count >= Self.maxEntries { entries.removeAll(keepingCapacity: true) }
            entries[key] = derived
        }
        return derived
    }
}
