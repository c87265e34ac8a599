import Foundation
import Testing
@testable import StowageS3

/// A small deterministic fuzz: mangled bodies and requests must be refused with an
/// `S3ProtocolError`, never crash or be accepted wrongly.
@Suite struct WireRobustnessTests {
    static let iterations = 1500

    /// A valid signed body of three small chunks, chained from the AWS example's seed.
    static func smallSignedBody() throws -> (body: [UInt8], decoder: AWSChunkedDecoder, payload: [UInt8]) {
        let authentication = try AWSExample.verifyChunked(AWSExample.chunkedHeaders)
        let signing = try #require(authentication.signing)
        let chunks: [[UInt8]] = [Array("hello, ".utf8), Array("world".utf8), []]
        var previous = signing.seedSignature
        var body: [UInt8] = []
        for chunk in chunks {
            previous = signing.chunkSignature(previous: previous,
                                              chunkSHA256: SigV4SigningContext.sha256Hex(chunk))
            body += Array("\(String(chunk.count, radix: 16));chunk-signature=\(previous)\r\n".utf8)
            body += chunk + Array("\r\n".utf8)
        }
        let decoder = try AWSChunkedDecoder(authentication: authentication, decodedContentLength: 12)
        return (body, decoder, Array("hello, world".utf8))
    }

    static func mangle(_ body: [UInt8], _ generator: inout SplitMix64) -> [UInt8] {
        var mangled = body
        switch Int.random(in: 0..<4, using: &generator) {
        case 0:
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                mangled[Int.random(in: 0..<mangled.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
        case 1:
            mangled.removeLast(Int.random(in: 1...mangled.count, using: &generator))
        case 2:
            mangled.insert(UInt8.random(in: 0...255, using: &generator), at: Int.random(in: 0...mangled.count, using: &generator))
        default:
            mangled.remove(at: Int.random(in: 0..<mangled.count, using: &generator))
        }
        return mangled
    }

    @Test func mangledSignedBodiesAreRefused() throws {
        let (body, decoder, payload) = try Self.smallSignedBody()
        #expect(try AWSChunkedDecoderTests.decode(body, decoder).payload == payload)
        var generator = SplitMix64(state: 2013_05_24)
        for _ in 0..<Self.iterations {
            let mangled = Self.mangle(body, &generator)
            let pieces = (0..<8).map { _ in Int.random(in: 1...40, using: &generator) }
            do {
                let decoded = try AWSChunkedDecoderTests.decode(mangled, decoder, pieces: pieces)
                // The only accepted change is one that leaves the signed content as it was,
                // like a hex digit's case in a chunk signature.
                #expect(decoded.payload == payload)
            } catch {
                #expect(error is S3ProtocolError)
            }
        }
    }

    @Test func mangledUnsignedBodiesNeverCrash() {
        let body = Array("10\r\nHello, Stowage!\n\r\n0\r\nx-amz-checksum-crc32:Q/rOTQ==\r\n\r\n".utf8)
        let decoder = AWSChunkedDecoder(mode: .unsignedWithTrailer, decodedContentLength: 16,
                                        declaredTrailers: "x-amz-checksum-crc32")
        var generator = SplitMix64(state: 42)
        for _ in 0..<Self.iterations {
            let pieces = (0..<8).map { _ in Int.random(in: 1...20, using: &generator) }
            do {
                _ = try AWSChunkedDecoderTests.decode(Self.mangle(body, &generator), decoder, pieces: pieces)
            } catch {
                #expect(error is S3ProtocolError)
            }
        }
    }

    /// Mangled targets and header values: refused with a code, or (when the change is
    /// one the canonical form absorbs, such as `%7E` for `~`) accepted for the same key.
    @Test func mangledRequestsNeverCrash() {
        var generator = SplitMix64(state: 7)
        let fixtures = ClientRequestFixture.all
        for _ in 0..<Self.iterations {
            let fixture = fixtures[Int.random(in: 0..<fixtures.count, using: &generator)]
            let target = String(decoding: Self.mangle(Array(fixture.target.utf8), &generator), as: UTF8.self)
            var headers = fixture.headers
            let index = Int.random(in: 0..<headers.count, using: &generator)
            headers[index].value = String(decoding: Self.mangle(Array(headers[index].value.utf8), &generator),
                                          as: UTF8.self)
            let mangledTarget = ClientRequestFixture(name: fixture.name, method: fixture.method, target: target,
                                                     headers: fixture.headers.map { ($0.name, $0.value) })
            for attempt in [{ try mangledTarget.verify(now: fixture.signedAt) }, { try fixture.verify(headers: headers) }] {
                do {
                    #expect(try attempt().accessKey == ClientRequestFixture.accessKey)
                } catch {
                    #expect((error as? S3ProtocolError)?.message.isEmpty == false)
                }
            }
        }
    }
}
