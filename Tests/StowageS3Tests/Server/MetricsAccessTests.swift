import NIOCore
import Testing
@testable import StowageS3

/// Who may read `/metrics`: with a token, exactly `Bearer <token>` from anywhere; without
/// one, loopback peers only (IPv4 127/8, ::1, IPv4-mapped 127/8, Unix sockets).
@Suite struct MetricsAccessTests {
    static let remote = try! SocketAddress(ipAddress: "192.0.2.2", port: 40000)

    @Test func withoutATokenOnlyLoopbackPeersMayScrape() throws {
        for loopback in ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1"] {
            let address = try SocketAddress(ipAddress: loopback, port: 1)
            #expect(MetricsRoute.access(remote: address, authorization: nil, token: nil) == .allowed, "\(loopback)")
        }
        for other in ["192.0.2.2", "10.0.0.1", "128.0.0.1", "::2", "::ffff:10.0.0.1", "fe80::1"] {
            let address = try SocketAddress(ipAddress: other, port: 1)
            #expect(MetricsRoute.access(remote: address, authorization: nil, token: nil) == .notLoopback, "\(other)")
        }
        #expect(MetricsRoute.access(remote: nil, authorization: nil, token: nil) == .notLoopback)
    }

    @Test func aTokenIsRequiredFromEveryPeerOnceSet() throws {
        let loopback = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        for peer in [loopback, Self.remote] {
            #expect(MetricsRoute.access(remote: peer, authorization: "Bearer s3cret", token: "s3cret") == .allowed)
            for wrong in [nil, "Bearer", "Bearer ", "Bearer s3cre", "Bearer s3cretX", "bearer s3cret", "Basic s3cret"] {
                #expect(MetricsRoute.access(remote: peer, authorization: wrong, token: "s3cret") == .needsToken, "\(wrong ?? "nil")")
            }
        }
    }
}
