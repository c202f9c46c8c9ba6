import Foundation

/// The gradient buffers of a batch split across threads, for the slices after the first: one
/// stretch of `count` floats per slice, in anonymous memory that is resident only while backward
/// uses it.
///
/// Untouched pages cost nothing. Once backward has summed a range of a slice into the model's
/// gradients, `clear` gives the range's whole pages back to the kernel (`MADV_DONTNEED`: they
/// read as zeros when touched again) and zeroes its partial pages at the edges. With backward
/// holding at most `GPTModel.sliceRangesInFlight` ranges per slice unsummed, a slice keeps wte's
/// gradient (the classifier starts it in forward and the embedding lookup finishes it last) and
/// a few blocks' gradients, not a whole model's.
///
/// Stretches under `pageReleaseMinimumBytes` keep their pages and are zeroed in place instead:
/// for a small model, faulting the pages in again every step (and the TLB shootdowns of each
/// `madvise` on the other cores) cost more than the memory is worth.
final class SliceGradients {
    /// Floats in each slice's stretch (the trained layout's count).
    let count: Int
    /// Slices that have a stretch (the split's slices after the first).
    let slices: Int
    /// True when summed ranges give their pages back (stretches of `pageReleaseMinimumBytes` or
    /// more); backward then bounds the ranges a slice holds unsummed.
    let releasesPages: Bool
    /// The smallest stretch, in bytes, whose summed ranges are handed back to the kernel: GPT-2
    /// 124M's 498 MB are, a 3.2 MB model's are not (docs/benchmarks.md has both measurements).
    static let pageReleaseMinimumBytes = 64 << 20
    private let base: UnsafeMutablePointer<Float>
    private let bytes: Int
    private let page: Int

    /// Maps `slices` zeroed stretches of `count` floats; summed ranges give their pages back when
    /// a stretch holds `releaseMinimumBytes` or more.
    init(count: Int, slices: Int, releaseMinimumBytes: Int = SliceGradients.pageReleaseMinimumBytes) {
        self.count = count
        self.slices = slices
        releasesPages = count * MemoryLayout<Float>.stride >= releaseMinimumBytes
        page = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))
        bytes = max(page, (count * slices * MemoryLayout<Float>.stride + page - 1) / page * page)
        let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let mapped, mapped != UnsafeMutableRawPointer(bitPattern: -1) else {
            fatalError("could not map \(bytes) bytes for slice gradients: errno \(errno)")
        }
        base = mapped.bindMemory(to: Float.self, capacity: count * slices)
    }

    deinit { munmap(base, bytes) }

    /// The first float of slice `k`'s stretch (`k` counts from 0 for the split's second slice).
    func start(slice k: Int) -> UnsafeMutablePointer<Float> { base + k * count }

    /// Sets `range` of slice `k`'s stretch to zero, handing its whole pages back to the kernel
    /// when `releasesPages`.
    func clear(_ range: Range<Int>, slice k: Int) {
        guard !range.isEmpty else { return }
        let first = start(slice: k) + range.lowerBound
        guard releasesPages else {
            first.update(repeating: 0, count: range.count)
            return
        }
        let low = UInt(bitPattern: first), high = low + UInt(range.count * MemoryLayout<Float>.stride)
        let p = UInt(page)
        let pagesLow = (low + p - 1) / p * p, pagesHigh = high / p * p
        guard pagesHigh > pagesLow else {
            first.update(repeating: 0, count: range.count)
            return
        }
        let headFloats = Int(pagesLow - low) / MemoryLayout<Float>.stride
        let tailFloats = Int(high - pagesHigh) / MemoryLayout<Float>.stride
        first.update(repeating: 0, count: headFloats)
        (first + (range.count - tailFloats)).update(repeating: 0, count: tailFloats)
        madvise(UnsafeMutableRawPointer(bitPattern: pagesLow), Int(pagesHigh - pagesLow), MADV_DONTNEED)
    }
}
