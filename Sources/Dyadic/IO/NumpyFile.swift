import Foundation

/// Reading and writing NumPy `.npy` files (format versions 1–3, little-endian, C order).
public enum NumpyFile {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

    public static func read(path: String) throws -> Tensor {
        guard let data = FileManager.default.contents(atPath: path) else { throw DyadicError("\(path): cannot read the file") }
        return try decode([UInt8](data), source: path)
    }

    public static func decode(_ bytes: [UInt8], source: String) throws -> Tensor {
        func fail(_ why: String) -> DyadicError { DyadicError("\(source): not a valid .npy file (\(why))") }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw fail("bad magic") }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw fail("unknown version \(major)")
        }
        guard headerStart + headerLength <= bytes.count else { throw fail("truncated header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = field("descr", in: header), let order = field("fortran_order", in: header),
              let shapeText = field("shape", in: header) else { throw fail("header lacks descr, fortran_order or shape") }
        guard order == "False" || order == "True" else { throw fail("fortran_order must be True or False, not \(order)") }
        let dtype: DType
        switch descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")) {
        case "<f4": dtype = .float32
        case "|u1", "<u1": dtype = .uint8
        case "|i1", "<i1": dtype = .int8
        case "<i4": dtype = .int32
        case "<i8": dtype = .int64
        case "|b1": dtype = .bool
        case let other: throw DyadicError("\(source): element type '\(other)' is not supported (float32, uint8, int8, int32, int64, bool)")
        }
        let inner = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let t = part.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { continue }
            guard let d = Int(t), d >= 0 else { throw fail("bad shape \(shapeText)") }
            shape.append(d)
        }
        var count = 1
        for d in shape {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard !o, p <= 1 << 32 else { throw fail("impossible shape \(shapeText)") }
            count = p
        }
        let start = headerStart + headerLength
        let expected = count * dtype.byteSize
        guard bytes.count - start == expected else {
            throw fail("shape \(shape.shapeString) needs \(expected) bytes of data, the file holds \(bytes.count - start)")
        }
        let data = Array(bytes[start...])
        guard order == "True", shape.count > 1 else { return Tensor(dtype: dtype, shape: shape, bytes: data) }
        // Fortran order stores the reversed shape row-major: transpose it back.
        let reversed = Tensor(dtype: dtype, shape: Array(shape.reversed()), bytes: data)
        return DataMovement.transpose(reversed, perm: Array((0..<shape.count).reversed()))
    }

    /// The value text of `'key': value` in a NumPy header dictionary.
    static func field(_ key: String, in header: String) -> String? {
        guard let r = header.range(of: "'\(key)':") else { return nil }
        var rest = header[r.upperBound...].drop { $0 == " " }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        rest = rest.prefix { $0 != "," && $0 != "}" }
        return rest.trimmingCharacters(in: .whitespaces)
    }

    public static func encode(_ t: Tensor) -> [UInt8] {
        let descr: String
        switch t.dtype {
        case .float32: descr = "<f4"
        case .uint8, .uint4, .uint2, .float8e4m3fn: descr = "|u1" // narrow values widened; FP8 as codes
        case .int8, .int4, .int2: descr = "|i1"
        case .int32: descr = "<i4"
        case .int64: descr = "<i8"
        case .bool: descr = "|b1"
        }
        let shape = t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        // Pad so that the data starts on a 64-byte boundary, header ends with a newline.
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var out = magic + [1, 0]
        let n = header.utf8.count
        out += [UInt8(n & 0xff), UInt8(n >> 8)]
        out += Array(header.utf8)
        out += t.bytes
        return out
    }

    /// Writes the file whole or not at all; only a regular file at `path` is replaced.
    public static func write(_ t: Tensor, path: String) throws {
        try OutputFile.write(Data(encode(t)), to: path)
    }
}
