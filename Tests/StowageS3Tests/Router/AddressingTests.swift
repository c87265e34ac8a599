import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Stowage
import Testing
@testable import StowageS3

/// How a request names its bucket and key: path-style and virtual-hosted-style, keys as
/// the SDKs encode them, the key length limit (bytes, not characters) and keys that are
/// not UTF-8.
@Suite struct AddressingTests {
    /// The router test framework always sends authority `localhost`, so virtual-hosted
    /// requests go over a socket: the Host header becomes the authority there, as it does
    /// for every client.
    @Test func virtualHostedAndPathStyleReachTheSameObject() async throws {
        try await withTestServer(.live) { client, store in
            try await store.createBucket("vhost")
            let port = try #require(client.port)
            try await TestClient.withClient(host: "localhost", port: port) { raw in
                let pathStyle = "localhost:\(port)"
                let virtual = "vhost.localhost:\(port)"
                func send(_ host: String, _ method: HTTPRequest.Method, _ path: String,
                          query: [(name: String, value: String?)] = [], headers: [(name: String, value: String)] = [],
                          body: String? = nil) async throws -> TestClient.Response {
                    let request = S3TestRequest(method: method, path: path, query: query, headers: headers,
                                                body: body.map { Array($0.utf8) })
                    return try await raw.execute(TestClient.Request(request.uri, method: method, authority: host,
                                                                    headers: request.fields(host: host),
                                                                    body: request.body.map { ByteBuffer(bytes: $0) }))
                }
                func text(_ response: TestClient.Response) -> String { response.body.map { String(buffer: $0) } ?? "" }

                #expect(try await send(pathStyle, .put, "/vhost/dir/a%20b.txt", body: "by path").status == .ok)
                let viaHost = try await send(virtual, .get, "/dir/a%20b.txt")
                #expect(viaHost.status == .ok)
                #expect(text(viaHost) == "by path")

                #expect(try await send(virtual, .put, "/dir/c.txt", body: "by host").status == .ok)
                #expect(try await store.text("vhost", "dir/c.txt") == "by host")
                #expect(text(try await send(pathStyle, .get, "/vhost/dir/c.txt")) == "by host")
                let head = try await send("VHOST.localhost:\(port)", .head, "/dir/c.txt")
                #expect(head.status == .ok)
                #expect(head.headers[.contentLength] == "7")

                let listing = try await send(virtual, .get, "/", query: [("list-type", "2")])
                let document = try #require(listing.body.flatMap { XMLNode.parse(Data($0.readableBytesView)) })
                #expect(document.text("Name") == "vhost")
                #expect(document.all("Contents").map { $0.text("Key") } == ["dir/a b.txt", "dir/c.txt"])

                let rename = try await send(virtual, .put, "/dir/d.txt", query: [("renameObject", nil)],
                                            headers: [("x-amz-rename-source", "dir/c.txt")])
                #expect(rename.status == .ok)
                #expect(!store.has("vhost", "dir/c.txt") && store.has("vhost", "dir/d.txt"))

                let missing = try await send("nobucket.localhost:\(port)", .get, "/k")
                #expect(missing.status == .notFound)
                let error = try #require(missing.body.flatMap { XMLNode.parse(Data($0.readableBytesView)) })
                #expect(error.text("Code") == "NoSuchBucket")
                #expect(error.text("Resource") == "/nobucket/k")

                #expect(try await send(virtual, .delete, "/dir/d.txt").status == .noContent)
                #expect(!store.has("vhost", "dir/d.txt"))
            }
        }
    }

    /// A second Host header that disagrees with the first would be signed while the first
    /// addresses the bucket: refused, and nothing is written.
    @Test func aSecondHostHeaderIsRefused() async throws {
        try await withTestServer { client, store in
            try await store.createBucket("hosts")
            let smuggled = try await client.send(.put, "/hosts/k", headers: [("Host", "other.localhost")], body: Array("x".utf8))
            expectS3Error(smuggled, .badRequest, "InvalidRequest")
            #expect(!store.has("hosts", "k"))

            let same = try await client.send(.put, "/hosts/k", headers: [("Host", "localhost")], body: Array("x".utf8))
            #expect(same.status == .ok)
            #expect(store.has("hosts", "k"))
        }
    }

    struct KeyCase: Sendable, CustomTestStringConvertible {
        let name: String
        let key: String
        /// The path as a client sends it.
        let path: String
        var testDescription: String { name }
    }

    static let keys: [KeyCase] = [
        KeyCase(name: "space", key: "my file.txt", path: "/keys/my%20file.txt"),
        KeyCase(name: "plus, encoded", key: "a+b c", path: "/keys/a%2Bb%20c"),
        KeyCase(name: "plus, raw (never a space in a path)", key: "a+b", path: "/keys/a+b"),
        KeyCase(name: "slash, encoded", key: "dir/x", path: "/keys/dir%2Fx"),
        KeyCase(name: "slash, raw", key: "dir/x", path: "/keys/dir/x"),
        KeyCase(name: "unicode", key: "日本/ключ ü.txt", path: objectPath("keys", "日本/ключ ü.txt")),
        KeyCase(name: "decomposed unicode stays decomposed", key: "e\u{301}", path: "/keys/e%CC%81"),
        KeyCase(name: "emoji", key: "🪣/🔑", path: objectPath("keys", "🪣/🔑")),
        KeyCase(name: "punctuation", key: "a~(1)!*'&$@=;:,?#[]", path: objectPath("keys", "a~(1)!*'&$@=;:,?#[]")),
        KeyCase(name: "percent sign", key: "100%", path: "/keys/100%25"),
        KeyCase(name: "empty and dot segments are kept", key: "a//b/./c/../d", path: "/keys/a//b/./c/../d"),
        KeyCase(name: "trailing slash", key: "folder/", path: "/keys/folder/"),
    ]

    @Test(arguments: keys)
    func keysArriveAsTheClientMeantThem(_ test: KeyCase) async throws {
        try await withTestServer { client, store in
            try await store.createBucket("keys")
            let put = try await client.send(.put, test.path, body: Array(test.name.utf8))
            #expect(put.status == .ok, "\(put.text)")
            let stored = try store.listObjects(bucket: "keys").objects.map(\.key)
            #expect(stored.map { Array($0.utf8) } == [Array(test.key.utf8)], "\(stored)")

            let get = try await client.send(.get, objectPath("keys", test.key))
            #expect(get.status == .ok)
            #expect(get.text == test.name)
            let again = try await client.send(.get, test.path)
            #expect(again.text == test.name)

            let listing = try await client.send(.get, "/keys", query: [("list-type", "2")])
            let listed = listing.xml?.all("Contents").compactMap { $0.text("Key") } ?? []
            #expect(listed.map { Array($0.utf8) } == [Array(test.key.utf8)])

            #expect(try await client.send(.delete, test.path).status == .noContent)
            #expect(try store.listObjects(bucket: "keys").objects.isEmpty)
        }
    }

    struct LengthCase: Sendable, CustomTestStringConvertible {
        let name: String
        let key: String
        let fits: Bool
        var testDescription: String { name }
    }

    /// `Limits.maxKeyBytes` counts UTF-8 bytes.
    static let lengths: [LengthCase] = [
        LengthCase(name: "1024 ASCII bytes", key: String(repeating: "k", count: Limits.maxKeyBytes), fits: true),
        LengthCase(name: "1025 ASCII bytes", key: String(repeating: "k", count: Limits.maxKeyBytes + 1), fits: false),
        LengthCase(name: "341 three-byte characters and one byte (1024 bytes)",
                   key: String(repeating: "日", count: 341) + "a", fits: true),
        LengthCase(name: "342 three-byte characters (1026 bytes)", key: String(repeating: "日", count: 342), fits: false),
    ]

    @Test(arguments: lengths)
    func keyLengthLimitIsInBytes(_ test: LengthCase) async throws {
        try await withTestServer { client, store in
            try await store.createBucket("long")
            try await client.put("long", "short", "short")
            let path = objectPath("long", test.key)
            let put = try await client.send(.put, path, body: Array("long".utf8))
            let rename = try await client.send(.put, path, query: [("renameObject", nil)],
                                               headers: [("x-amz-rename-source", "short")])
            let get = try await client.send(.get, path)
            let head = try await client.send(.head, path)
            if test.fits {
                #expect(put.status == .ok)
                #expect(rename.status == .ok)
                #expect(get.text == "short")
                #expect(head.status == .ok)
                #expect(store.has("long", test.key))
            } else {
                expectS3Error(put, .badRequest, "KeyTooLongError")
                expectS3Error(rename, .badRequest, "KeyTooLongError")
                expectS3Error(get, .badRequest, "KeyTooLongError")
                #expect(head.status == .badRequest)
                #expect(head.body.readableBytes == 0)
                #expect(try store.listObjects(bucket: "long").objects.map(\.key) == ["short"])
            }
        }
    }

    /// A key is UTF-8 (S3: "a sequence of Unicode characters whose UTF-8 encoding is at
    /// most 1,024 bytes"); bytes that are not, or a broken escape, are refused.
    @Test(arguments: ["/bad/%FF", "/bad/ok%C3", "/bad/%C0%AF", "/bad/%ED%A0%80", "/bad/a%zz", "/bad/a%2"])
    func keysThatAreNotUTF8AreRefused(_ path: String) async throws {
        try await withTestServer { client, store in
            try await store.createBucket("bad")
            let put = try await client.send(.put, path, body: Array("x".utf8))
            expectS3Error(put, .badRequest, "InvalidArgument")
            let get = try await client.send(.get, path)
            expectS3Error(get, .badRequest, "InvalidArgument")
            #expect(try store.listObjects(bucket: "bad").objects.isEmpty)
        }
    }
}
