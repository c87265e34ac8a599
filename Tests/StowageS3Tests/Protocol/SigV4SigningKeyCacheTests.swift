import Testing
@testable import StowageS3

/// The signing-key cache hands out exactly what the derivation gives, per secret and scope.
@Suite struct SigV4SigningKeyCacheTests {
    static let scope = "20130524/us-east-1/s3/aws4_request"
    static let elements = scope.split(separator: "/")

    @Test func cachedKeyIsTheDerivedKey() {
        let cache = SigV4SigningKeyCache()
        let derived = SigV4SigningContext.deriveSigningKey(secret: "secret-a", scopeElements: Self.elements)
        #expect(cache.signingKey(secret: "secret-a", scope: Self.scope, scopeElements: Self.elements) == derived)
        #expect(cache.signingKey(secret: "secret-a", scope: Self.scope, scopeElements: Self.elements) == derived)
        #expect(cache.count == 1)
    }

    /// Another secret (a rotated one) or another day, region or service: another key.
    @Test func keyedBySecretAndScope() {
        let cache = SigV4SigningKeyCache()
        let a = cache.signingKey(secret: "secret-a", scope: Self.scope, scopeElements: Self.elements)
        let b = cache.signingKey(secret: "secret-b", scope: Self.scope, scopeElements: Self.elements)
        let nextDay = "20130525/us-east-1/s3/aws4_request"
        let c = cache.signingKey(secret: "secret-a", scope: nextDay, scopeElements: nextDay.split(separator: "/"))
        #expect(a != b && a != c && b != c)
        #expect(c == SigV4SigningContext.deriveSigningKey(secret: "secret-a", scopeElements: nextDay.split(separator: "/")))
        #expect(cache.count == 3)
    }

    /// At the limit the cache starts over: never more than `maxEntries` keys held.
    @Test func bounded() {
        let cache = SigV4SigningKeyCache()
        for index in 0...SigV4SigningKeyCache.maxEntries {
            _ = cache.signingKey(secret: "secret-\(index)", scope: Self.scope, scopeElements: Self.elements)
        }
        #expect(cache.count == 1)
        #expect(cache.count <= SigV4SigningKeyCache.maxEntries)
    }
}
