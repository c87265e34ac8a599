/// The CRC of a concatenation from the CRCs and lengths of its pieces, without the bytes
/// (zlib's `crc32_combine`, made generic over the width and the polynomial).
///
/// A reflected CRC whose initial value equals its final xor (all ones for S3's three
/// CRCs) is affine in the message, and for two pieces A and B
/// `crc(A ‖ B) = crc(A) · x^(8·|B|) mod P  ⊕  crc(B)` over GF(2): appending |B| bytes
/// shifts A's remainder by 8·|B| bits, and the initial-value and final-xor terms cancel.
/// `x^(8·n) mod P` takes O(log n) multiplications from a table of `x^(2^k) mod P`, so one
/// combine costs a few thousand bit operations whatever the lengths — a 5 GiB part costs
/// as little as a 5 byte one. That is how a multipart upload's FULL_OBJECT checksum is
/// computed at CompleteMultipartUpload from the part records, reading no object byte.
///
/// Polynomials are in reflected bit order (the representation in which the CRC shifts
/// right): bit `width − 1` is x^0, bit 0 is x^(width − 1).
public struct CRCCombiner: Sendable {
    /// 32 or 64.
    public let widthBits: Int
    public let reflectedPolynomial: UInt64
    /// `powers[k]` = x^(2^k) mod P. A byte length below 2^64 needs exponents up to
    /// 2^(3 + 63): `x^(8·n)` = the product of `powers[k + 3]` over the bits k of n.
    private let powers: [UInt64]
    static let powerCount = 64 + 3

    public static let crc32 = CRCCombiner(widthBits: 32, reflectedPolynomial: 0xedb8_8320)
    public static let crc32c = CRCCombiner(widthBits: 32, reflectedPolynomial: 0x82f6_3b78)
    public static let crc64nvme = CRCCombiner(widthBits: 64, reflectedPolynomial: CRC64NVME.reflectedPolynomial)

    public init(widthBits: Int, reflectedPolynomial: UInt64) {
        precondition(widthBits == 32 || widthBits == 64, "a CRC of 32 or 64 bits")
        self.widthBits = widthBits
        self.reflectedPolynomial = reflectedPolynomial
        var powers: [UInt64] = []
        var power: UInt64 = 1 << (widthBits - 2)   // x^1
        for _ in 0..<Self.powerCount {
            powers.append(power)
            power = Self.multiply(power, power, reflectedPolynomial, widthBits)
        }
        self.powers = powers
    }

    /// The bits a CRC of this width uses.
    public var mask: UInt64 { widthBits == 64 ? ~0 : (1 << widthBits) - 1 }

    /// `crc(A ‖ B)` from `crc(A)`, `crc(B)` and the length of B in bytes.
    public func combine(_ first: UInt64, _ second: UInt64, secondLengthBytes: UInt64) -> UInt64 {
        multiply(xToThe8Times(secondLengthBytes), first) ^ second
    }

    /// The CRC of the pieces' concatenation; an empty list is the CRC of nothing (0).
    public func combine(_ pieces: [(crc: UInt64, lengthBytes: UInt64)]) -> UInt64 {
        pieces.reduce(0) { combine($0, $1.crc, secondLengthBytes: $1.lengthBytes) }
    }

    /// x^(8·n) mod P.
    func xToThe8Times(_ n: UInt64) -> UInt64 {
        var result: UInt64 = 1 << (widthBits - 1)   // x^0
        var rest = n
        var k = 3
        while rest != 0 {
            if rest & 1 == 1 { result = multiply(powers[k], result) }
            rest >>= 1
            k += 1
        }
        return result
    }

    func multiply(_ a: UInt64, _ b: UInt64) -> UInt64 {
        Self.multiply(a, b, reflectedPolynomial, widthBits)
    }

    /// a(x) · b(x) mod P in the reflected representation: for each term of a, from x^0
    /// up, add b when the term is present, and multiply b by x (a right shift, reduced).
    static func multiply(_ a: UInt64, _ b: UInt64, _ polynomial: UInt64, _ widthBits: Int) -> UInt64 {
        var term: UInt64 = 1 << (widthBits - 1)
        var product: UInt64 = 0
        var multiple = b
        while term != 0 {
            if a & term != 0 { product ^= multiple }
            multiple = multiple & 1 == 1 ? (multiple >> 1) ^ polynomial : multiple >> 1
            term >>= 1
        }
        return product
    }
}
