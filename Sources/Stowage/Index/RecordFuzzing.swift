/// The fuzz target for the index record decoders (`make fuzz`, and the corpus replay in
/// the tests): arbitrary bytes go to every decoder. Each must refuse them with a
/// `RecordError` or decode them into a record that encodes back to the same bytes — the
/// layouts are canonical — and never crash or allocate for counts the bytes cannot hold.
package enum RecordFuzzing {
    package static func decodeEverything(_ bytes: UnsafeRawBufferPointer) {
        roundTrip(bytes) { try BucketRecord(decoding: $0) } encode: { $0.encoded() }
        roundTrip(bytes) { try ObjectRecord(decoding: $0) } encode: { $0.encoded() }
        roundTrip(bytes) { try BlobRecord(decoding: $0) } encode: { $0.encoded() }
        roundTrip(bytes) { try SegmentRecord(decoding: $0) } encode: { $0.encoded() }
        roundTrip(bytes) { try TokenRecord(decoding: $0) } encode: { $0.encoded() }
        roundTrip(bytes) { try UploadRecord(decoding: $0) } encode: { $0.encoded() }
        roundTrip(bytes) { try PartRecord(decoding: $0) } encode: { $0.encoded() }
        roundTrip(bytes) { try KeyGroupRecord(decoding: $0) } encode: { $0.encoded() }
        roundTrip(bytes) { try QuarantineRecord(decoding: $0) } encode: { $0.encoded() }
    }

    private static func roundTrip<R>(_ bytes: UnsafeRawBufferPointer, decode: (UnsafeRawBufferPointer) throws -> R,
                                     encode: (R) -> [UInt8]) {
        do {
            let record = try decode(bytes)
            let again = encode(record)
            precondition(again == Array(bytes), "\(R.self) decoded from \(Array(bytes)) encodes to \(again)")
        } catch is RecordError {
            return
        } catch {
            preconditionFailure("\(R.self) decoding threw \(error), not a RecordError")
        }
    }
}
