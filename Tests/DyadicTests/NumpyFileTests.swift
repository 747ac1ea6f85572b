import Foundation
import Testing
@testable import Dyadic

@Suite struct NumpyFileTests {
    @Test func roundTripsEveryType() throws {
        let tensors = [
            Tensor([1.5, -2, 3] as [Float], shape: [3]),
            Tensor([0, 255, 7] as [UInt8], shape: [1, 3]),
            Tensor([-128, 127] as [Int8], shape: [2]),
            Tensor([Int32.min, 5] as [Int32], shape: [2, 1]),
            Tensor([Int64.max] as [Int64], shape: []),
        ]
        for t in tensors {
            let back = try NumpyFile.decode(NumpyFile.encode(t), source: "mem")
            #expect(back.dtype == t.dtype && back.shape == t.shape && back.bytes == t.bytes)
        }
    }

    @Test func corruptFilesAreDiagnosed() throws {
        let good = NumpyFile.encode(Tensor([1, 2, 3, 4] as [Float], shape: [4]))
        #expect(throws: DyadicError.self) { try NumpyFile.decode(Array(good.prefix(5)), source: "x.npy") }
        #expect(throws: DyadicError.self) { try NumpyFile.decode(Array(good.dropLast(4)), source: "x.npy") }
        var badMagic = good
        badMagic[1] = 0
        #expect(throws: DyadicError.self) { try NumpyFile.decode(badMagic, source: "x.npy") }
        var float64 = good
        let at = try #require((0..<(good.count - 2)).first { good[$0] == UInt8(ascii: "<") && good[$0 + 1] == UInt8(ascii: "f") })
        float64[at + 2] = UInt8(ascii: "8")
        do {
            _ = try NumpyFile.decode(float64, source: "x.npy")
            Issue.record("float64 accepted")
        } catch let e as DyadicError {
            #expect(e.message.contains("<f8"))
        } catch { Issue.record("unexpected \(error)") }
    }

    /// numpy.save writes a Fortran-ordered array (a transposed view) as its column-major
    /// bytes with fortran_order True: read back in row-major order.
    @Test func fortranOrderIsReadInRowMajorOrder() throws {
        // np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)): bytes 0 3 1 4 2 5.
        let columnMajor = Tensor([0, 3, 1, 4, 2, 5] as [Int32], shape: [2, 3])
        var file = NumpyFile.encode(columnMajor)
        let text = String(decoding: file, as: UTF8.self)
        let range = try #require(text.range(of: "'fortran_order': False"))
        let offset = text.utf8.distance(from: text.startIndex, to: range.lowerBound)
        file.replaceSubrange(offset..<(offset + 22), with: Array("'fortran_order': True,".utf8))
        let back = try NumpyFile.decode(file, source: "f.npy")
        #expect(back.shape == [2, 3] && back.int32Values == [0, 1, 2, 3, 4, 5])
    }
}
