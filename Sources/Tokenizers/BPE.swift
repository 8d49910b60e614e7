// The BPE model: initial symbols for a piece (bytes or characters), then the lowest-rank merge first until none applies.

/// A BPE vocabulary with its merge table. Immutable and shared; per-call state lives in `BPEScratch`.
final class BPEModel: Sendable {
    /// True for GPT-2-style vocabularies, whose tokens spell bytes in `ByteLevelAlphabet`.
    let byteLevel: Bool
    /// Token text → id, as the vocabulary spells it (`Ġhello`, `▁hello`).
    let idOfToken: [String: Int]
    /// Id → token text.
    let tokens: [String]
    /// Id → the UTF-8 bytes the model matches it against: raw bytes for byte-level models, else the text's UTF-8.
    let tokenBytes: [[UInt8]]
    private let idOfBytes: [[UInt8]: Int32]
    /// `(left << 32 | right)` → `(rank << 32 | merged)`.
    private let merges: [UInt64: UInt64]
    /// Byte-level: the id of the one-character token of each byte (-1 when the vocabulary lacks it).
    private let byteSymbol: [Int32]
    /// Non-byte-level: the id of each single-character token.
    private let scalarSymbol: [UInt32: Int32]
    /// `<0xNN>` ids when the model falls back to bytes for unknown characters.
    private let byteFallback: [Int32]?
    private let unknown: Int32
    private let fuseUnknown: Bool
    /// Emit a piece that is itself a token without merging (Llama 3 sets this).
    private let ignoreMerges: Bool
    private let continuingSubwordPrefix: String
    private let endOfWordSuffix: String

    /// `merges` pairs token texts, lowest rank (earliest) first; `ranks`, when given, replaces the list
    /// position (SentencePiece scores, where equal scores must tie).
    init(
        tokens: [String], merges: [(String, String)], ranks: [Int]? = nil, byteLevel: Bool, byteFallback: Bool,
        unknownToken: String?, fuseUnknown: Bool, ignoreMerges: Bool, continuingSubwordPrefix: String = "",
        endOfWordSuffix: String = ""
    ) {
        self.byteLevel = byteLevel
        self.tokens = tokens
        var idOfToken: [String: Int] = [:]
        idOfToken.reserveCapacity(tokens.count)
        for (id, t) in tokens.enumerated() where idOfToken[t] == nil { idOfToken[t] = id }
        self.idOfToken = idOfToken
        let tokenBytes = tokens.map { byteLevel ? ByteLevelAlphabet.decode($0) : Array($0.utf8) }
        self.tokenBytes = tokenBytes
        var idOfBytes: [[UInt8]: Int32] = [:]
        idOfBytes.reserveCapacity(tokens.count)
        for (id, b) in tokenBytes.enumerated() where idOfBytes[b] == nil { idOfBytes[b] = Int32(id) }
        self.idOfBytes = idOfBytes

        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let left = idOfToken[a], let right = idOfToken[b], let merged = idOfToken[a + b] else { continue }
            let key = UInt64(left) << 32 | UInt64(right)
            if table[key] == nil { table[key] = UInt64(ranks?[rank] ?? rank) << 32 | UInt64(merged) }
        }
        self.merges = table

        var byteSymbol = [Int32](repeating: -1, count: 256)
        if byteLevel {
            for b in 0..<256 {
                if let id = idOfToken[String(ByteLevelAlphabet.scalars[b])] { byteSymbol[b] = Int32(id) }
            }
        }
        self.byteSymbol = byteSymbol
        var scalarSymbol: [UInt32: Int32] = [:]
        if !byteLevel {
            for (id, t) in tokens.enumerated() {
                var it = t.unicodeScalars.makeIterator()
                if let s = it.next(), it.next() == nil, scalarSymbol[s.value] == nil { scalarSymbol[s.value] = Int32(id) }
            }
        }
        self.scalarSymbol = scalarSymbol
        if byteFallback {
            let ids = (0..<256).map { b in idOfToken[byteTokenName(UInt8(b))].map(Int32.init) ?? -1 }
            self.byteFallback = ids.contains(-1) ? nil : ids
        } else {
            self.byteFallback = nil
        }
        self.unknown = unknownToken.flatMap { idOfToken[$0] }.map(Int32.init) ?? -1
        self.fuseUnknown = fuseUnknown
        self.ignoreMerges = ignoreMerges
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.endOfWordSuffix = endOfWordSuffix
    }

    /// Ids of the `<0xNN>` tokens, when the model has all 256.
    var byteFallbackIds: [Int32]? { byteFallback }

    /// Encodes one pre-tokenized piece, appending its ids to `out`; results are cached in `scratch`.
    func encode(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ scratch: inout BPEScratch, into out: inout [Int]) {
        let count = range.count
        guard count > 0 else { return }
        var smallKey: UInt64 = 0
        if count <= 7 {
            for k in 0..<count { smallKey |= UInt64(p[range.lowerBound + k]) << (8 * UInt64(k)) }
            smallKey |= UInt64(count) << 56
            if let hit = scratch.small[smallKey] {
                scratch.emit(hit, into: &out)
                return
            }
        } else if let hit = scratch.large[Array(UnsafeBufferPointer(rebasing: p[range]))] {
            scratch.emit(hit, into: &out)
            return
        }
        let start = scratch.arena.count
        encodeUncached(p, range, &scratch)
        let produced = scratch.arena.count - start
        for k in start..<(start + produced) { out.append(Int(scratch.arena[k])) }
        // Bound the cache: a long stream of distinct pieces must not grow memory without limit.
        if scratch.arena.count > 1 << 24 {
            scratch.reset()
            return
        }
        let entry = UInt64(start) << 32 | UInt64(produced)
        if count <= 7 {
            scratch.small[smallKey] = entry
        } else {
            scratch.large[Array(UnsafeBufferPointer(rebasing: p[range]))] = entry
        }
    }

    /// Runs BPE on one piece and appends its ids to `scratch.arena`.
    private func encodeUncached(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ scratch: inout BPEScratch) {
        if ignoreMerges, let id = idOfBytes[Array(UnsafeBufferPointer(rebasing: p[range]))] {
            scratch.arena.append(id)
            return
        }
        var symbols = scratch.symbols
        symbols.removeAll(keepingCapacity: true)
        initialSymbols(p, range, into: &symbols)
        if symbols.count > 1 {
            if symbols.count <= 64 { mergeByScan(&symbols) } else { mergeByHeap(&symbols, &scratch) }
        }
        scratch.arena.append(contentsOf: symbols)
        scratch.symbols = symbols
    }

    private func initialSymbols(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into symbols: inout [Int32]) {
        if !continuingSubwordPrefix.isEmpty || !endOfWordSuffix.isEmpty {
            initialSymbolsWithAffixes(p, range, into: &symbols)
            return
        }
        var previousUnknown = false
        if byteLevel {
            for i in range {
                let id = byteSymbol[Int(p[i])]
                if id >= 0 {
                    symbols.append(id)
                    previousUnknown = false
                } else if unknown >= 0 && !(fuseUnknown && previousUnknown) {
                    symbols.append(unknown)
                    previousUnknown = true
                }
            }
            return
        }
        var i = range.lowerBound
        while i < range.upperBound {
            let (s, n) = decodeScalar(p, i)
            if let id = scalarSymbol[s] {
                symbols.append(id)
                previousUnknown = false
            } else if let bytes = byteFallback {
                for k in i..<(i + n) { symbols.append(bytes[Int(p[k])]) }
                previousUnknown = false
            } else if unknown >= 0 && !(fuseUnknown && previousUnknown) {
                symbols.append(unknown)
                previousUnknown = true
            }
            i += n
        }
    }

    /// The rare vocabularies that mark word-inner (`##`) or word-final (`</w>`) symbols.
    private func initialSymbolsWithAffixes(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into symbols: inout [Int32]) {
        let text = String(decoding: UnsafeBufferPointer(rebasing: p[range]), as: UTF8.self)
        let units: [String] =
            byteLevel ? text.utf8.map { String(ByteLevelAlphabet.scalars[Int($0)]) } : text.unicodeScalars.map { String($0) }
        var previousUnknown = false
        for (k, unit) in units.enumerated() {
            var s = unit
            if k > 0 { s = continuingSubwordPrefix + s }
            if k == units.count - 1 { s += endOfWordSuffix }
            if let id = idOfToken[s] {
                symbols.append(Int32(id))
                previousUnknown = false
            } else if let bytes = byteFallback, !byteLevel {
                for b in unit.utf8 { symbols.append(bytes[Int(b)]) }
                previousUnknown = false
            } else if unknown >= 0 && !(fuseUnknown && previousUnknown) {
                symbols.append(unknown)
                previousUnknown = true
            }
        }
    }

    @inline(__always)
    private func merge(_ left: Int32, _ right: Int32) -> UInt64? {
        merges[UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))]
    }

    /// Short pieces: find the lowest-rank pair (leftmost on ties) by scanning, merge, repeat.
    private func mergeByScan(_ symbols: inout [Int32]) {
        var ranks = [UInt64](repeating: .max, count: symbols.count)
        for i in 0..<(symbols.count - 1) { ranks[i] = merge(symbols[i], symbols[i + 1]) ?? .max }
        while symbols.count > 1 {
            var best = UInt64.max
            var at = -1
            for i in 0..<(symbols.count - 1) where ranks[i] >> 32 < best >> 32 {
                best = ranks[i]
                at = i
            }
            if at < 0 { break }
            symbols[at] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            symbols.remove(at: at + 1)
            ranks.remove(at: at + 1)
            ranks[at] = at + 1 < symbols.count ? merge(symbols[at], symbols[at + 1]) ?? .max : .max
            if at > 0 { ranks[at - 1] = merge(symbols[at - 1], symbols[at]) ?? .max }
        }
    }

    /// Long pieces: a min-heap of `(rank, position)` over a linked list of symbols, as HF and llama.cpp do.
    private func mergeByHeap(_ symbols: inout [Int32], _ scratch: inout BPEScratch) {
        let n = symbols.count
        var next = Array(1...n)  // n = none
        var prev = Array(-1..<(n - 1))
        var alive = [Bool](repeating: true, count: n)
        var heap = MinHeap()
        for i in 0..<(n - 1) {
            if let m = merge(symbols[i], symbols[i + 1]) { heap.push((m & 0xFFFF_FFFF_0000_0000) | UInt64(i)) }
        }
        while let top = heap.pop() {
            let left = Int(top & 0xFFFF_FFFF)
            let rank = top >> 32
            guard alive[left], next[left] < n else { continue }
            let right = next[left]
            guard let m = merge(symbols[left], symbols[right]), m >> 32 == rank else { continue }
            symbols[left] = Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)
            alive[right] = false
            next[left] = next[right]
            if next[right] < n { prev[next[right]] = left }
            if prev[left] >= 0, let m = merge(symbols[prev[left]], symbols[left]) {
                heap.push((m & 0xFFFF_FFFF_0000_0000) | UInt64(prev[left]))
            }
            if next[left] < n, let m = merge(symbols[left], symbols[next[left]]) {
                heap.push((m & 0xFFFF_FFFF_0000_0000) | UInt64(left))
            }
        }
        var k = 0
        for i in 0..<n where alive[i] {
            symbols[k] = symbols[i]
            k += 1
        }
        symbols.removeLast(n - k)
    }
}

/// A binary min-heap of packed `(rank << 32 | position)` keys: lowest rank first, then leftmost.
struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(_ x: UInt64) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent] <= items[i] { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < items.count && items[l] < items[m] { m = l }
                if r < items.count && items[r] < items[m] { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return first
    }
}

/// Per-call (per-thread) state: the piece → ids cache and reusable buffers.
struct BPEScratch {
    /// Pieces of up to 7 bytes, packed with their length into one key.
    var small: [UInt64: UInt64] = [:]
    var large: [[UInt8]: UInt64] = [:]
    /// Cached ids; a cache value is `(start << 32 | count)` into it.
    var arena: [Int32] = []
    var symbols: [Int32] = []

    @inline(__always)
    func emit(_ entry: UInt64, into out: inout [Int]) {
        let start = Int(entry >> 32)
        for k in start..<(start + Int(entry & 0xFFFF_FFFF)) { out.append(Int(arena[k])) }
    }

    mutating func reset() {
        small.removeAll(keepingCapacity: true)
        large.removeAll(keepingCapacity: true)
        arena.removeAll(keepingCapacity: true)
    }
}

/// The SentencePiece name of a byte-fallback token: `<0x0A>`.
func byteTokenName(_ b: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return "<0x" + String(digits[Int(b >> 4)]) + String(digits[Int(b & 15)]) + ">"
}
