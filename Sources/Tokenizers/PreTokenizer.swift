// Pre-tokenizers: cut normalized text into the pieces BPE runs on, with hand-written matchers for the common split regexes.
import Foundation

/// Text being pre-tokenized: one UTF-8 buffer and the byte ranges of its pieces, so splitting never copies.
struct Pieces {
    var bytes: [UInt8]
    var ranges: [Range<Int>]
}

/// How the matches of a split pattern become pieces (HF `SplitDelimiterBehavior`).
enum SplitBehavior: String, Sendable {
    case isolated = "Isolated", removed = "Removed", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
}

/// When Metaspace puts the replacement character in front of a piece.
enum PrependScheme: String, Sendable { case always, first, never }

/// Lets a compiled `NSRegularExpression` live in immutable, shared tokenizer state; matching is thread-safe.
final class SharedRegex: @unchecked Sendable {
    let regex: NSRegularExpression
    let pattern: String
    init(_ pattern: String, path: String) throws {
        do { regex = try NSRegularExpression(pattern: pattern) } catch {
            throw TokenizersError.invalidPattern(path: path, pattern: pattern, reason: "\(error)")
        }
        self.pattern = pattern
    }
}

/// What a split step looks for. The named cases are state machines equal to the regexes in their comments;
/// `.regex` runs anything else through ICU.
enum SplitPattern: Sendable {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    /// with `maxDigits` in place of 3 (0: unbounded) and, when `marksAreLetters` (Qwen 3.5), `[\p{L}\p{M}]` for `\p{L}`.
    case llama3(maxDigits: Int, marksAreLetters: Bool)
    /// Every `\p{N}` character is one match.
    case numbers
    /// Every punctuation character (ASCII punctuation or `\p{P}`) is one match.
    case punctuation
    /// Every whitespace character is one match.
    case whitespace
    /// Occurrences of a literal string.
    case literal([UInt8])
    case regex(SharedRegex)

    private static let contractions = "'s|'t|'re|'ve|'m|'ll|'d"
    private static let caseless = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"

    /// The hand-written matcher for a regex when there is one, else ICU.
    static func compile(_ pattern: String, path: String) throws -> SplitPattern {
        let gpt2 = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#
        if pattern == gpt2 || pattern == gpt2 + #"|\s+"# { return .gpt2 }
        for (digits, max) in [(#"\p{N}{1,3}"#, 3), (#"\p{N}"#, 1), (#"\p{N}+"#, 0)] {
            for marks in [false, true] {
                let letters = marks ? #"[\p{L}\p{M}]+"# : #"\p{L}+"#
                let punct = marks ? #"[^\s\p{L}\p{M}\p{N}]+"# : #"[^\s\p{L}\p{N}]+"#
                let body = #"|[^\r\n\p{L}\p{N}]?"# + letters + "|" + digits + "| ?" + punct
                    + #"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
                if pattern == "(?i:\(contractions))" + body || pattern == caseless + body {
                    return .llama3(maxDigits: max, marksAreLetters: marks)
                }
            }
        }
        if pattern == #"\p{N}"# { return .numbers }
        return .regex(try SharedRegex(pattern, path: path))
    }

    /// Appends the matches inside `range` to `out`, in order and non-overlapping.
    func matches(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into out: inout [Range<Int>]) {
        switch self {
        case .gpt2:
            var i = range.lowerBound
            while i < range.upperBound {
                let next = Self.gpt2Match(p, i, range.upperBound)
                out.append(i..<next)
                i = next
            }
        case .llama3(let maxDigits, let marks):
            var i = range.lowerBound
            while i < range.upperBound {
                let next = Self.llama3Match(p, i, range.upperBound, maxDigits: maxDigits, marks: marks)
                out.append(i..<next)
                i = next
            }
        case .numbers, .punctuation, .whitespace:
            var i = range.lowerBound
            while i < range.upperBound {
                let (s, n) = decodeScalar(p, i)
                let c = CharClass.of(s)
                let hit: Bool
                switch self {
                case .numbers: hit = c.contains(.number)
                case .punctuation: hit = c.contains(.punctuation) || (s < 0x80 && c.contains(.symbol))
                default: hit = c.contains(.space)
                }
                if hit { out.append(i..<(i + n)) }
                i += n
            }
        case .literal(let needle):
            guard !needle.isEmpty else { return }
            var i = range.lowerBound
            while i + needle.count <= range.upperBound {
                var equal = true
                for k in 0..<needle.count where p[i + k] != needle[k] {
                    equal = false
                    break
                }
                if equal {
                    out.append(i..<(i + needle.count))
                    i += needle.count
                } else {
                    i += 1
                }
            }
        case .regex(let shared):
            Self.regexMatches(shared.regex, p, range, into: &out)
        }
    }

    @inline(__always)
    private static func consume(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, _ cls: CharClass) -> Int {
        var i = i
        while i < end {
            let (s, n) = decodeScalar(p, i)
            if CharClass.of(s).isDisjoint(with: cls) { break }
            i += n
        }
        return i
    }

    @inline(__always)
    private static func consumeNot(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, _ cls: CharClass) -> Int {
        var i = i
        while i < end {
            let (s, n) = decodeScalar(p, i)
            if !CharClass.of(s).isDisjoint(with: cls) { break }
            i += n
        }
        return i
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` (and, with `caseless`, any case), returning the end of the match or nil.
    @inline(__always)
    private static func contraction(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, caseless: Bool) -> Int? {
        guard p[i] == 0x27, i + 1 < end else { return nil }
        let fold: UInt8 = caseless ? 0x20 : 0
        let c = p[i + 1] | (p[i + 1] >= 0x41 && p[i + 1] <= 0x5A ? fold : 0)
        switch c {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"): return i + 2
        default: break
        }
        guard i + 2 < end else { return nil }
        let d = p[i + 2] | (p[i + 2] >= 0x41 && p[i + 2] <= 0x5A ? fold : 0)
        switch (c, d) {
        case (UInt8(ascii: "r"), UInt8(ascii: "e")), (UInt8(ascii: "v"), UInt8(ascii: "e")),
            (UInt8(ascii: "l"), UInt8(ascii: "l")):
            return i + 3
        default: return nil
        }
    }

    /// Whitespace at `i`: `\s+(?!\S)|\s+` — the run, less its last character when text follows it.
    @inline(__always)
    private static func whitespaceRun(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        var k = i
        var lastStart = i
        while k < end {
            let (s, n) = decodeScalar(p, k)
            if !CharClass.of(s).contains(.space) { break }
            lastStart = k
            k += n
        }
        if k == end || lastStart == i { return max(k, i + utf8Length(p[i])) }
        return lastStart
    }

    private static func gpt2Match(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        if let e = contraction(p, i, end, caseless: false) { return e }
        var j = i
        if p[i] == 0x20 && i + 1 < end { j = i + 1 }
        let (s, n) = decodeScalar(p, j)
        let c = CharClass.of(s)
        if c.contains(.letter) { return consume(p, j + n, end, .letter) }
        if c.contains(.number) { return consume(p, j + n, end, .number) }
        if !c.contains(.space) { return consumeNot(p, j + n, end, [.space, .letter, .number]) }
        return whitespaceRun(p, i, end)
    }

    private static func llama3Match(
        _ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, maxDigits: Int, marks: Bool
    ) -> Int {
        if let e = contraction(p, i, end, caseless: true) { return e }
        let letterish: CharClass = marks ? [.letter, .mark] : .letter
        let (s0, n0) = decodeScalar(p, i)
        let c0 = CharClass.of(s0)
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if !c0.isDisjoint(with: letterish) { return consume(p, i + n0, end, letterish) }
        if c0.isDisjoint(with: [.newline, .letter, .number]) && i + n0 < end {
            let (s1, n1) = decodeScalar(p, i + n0)
            if !CharClass.of(s1).isDisjoint(with: letterish) { return consume(p, i + n0 + n1, end, letterish) }
        }
        // \p{N}{1,maxDigits}
        if c0.contains(.number) {
            var k = i + n0
            var count = 1
            while k < end && (maxDigits == 0 || count < maxDigits) {
                let (s, n) = decodeScalar(p, k)
                if !CharClass.of(s).contains(.number) { break }
                k += n
                count += 1
            }
            return k
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let notPunct: CharClass = marks ? [.space, .letter, .number, .mark] : [.space, .letter, .number]
        var j = i
        var cj = c0
        var nj = n0
        if s0 == 0x20 && i + 1 < end {
            let (s1, n1) = decodeScalar(p, i + 1)
            let c1 = CharClass.of(s1)
            if c1.isDisjoint(with: notPunct) { (j, cj, nj) = (i + 1, c1, n1) }
        }
        if cj.isDisjoint(with: notPunct) {
            var k = consumeNot(p, j + nj, end, notPunct)
            while k < end && (p[k] == 0x0A || p[k] == 0x0D) { k += 1 }
            return k
        }
        // `\s*[\r\n]+`: the whitespace run up to and including its last line break.
        var k = i
        var afterNewline = -1
        while k < end {
            let (s, n) = decodeScalar(p, k)
            let c = CharClass.of(s)
            if !c.contains(.space) { break }
            k += n
            if c.contains(.newline) { afterNewline = k }
        }
        if afterNewline > 0 { return afterNewline }
        return whitespaceRun(p, i, end)
    }

    private static func regexMatches(
        _ regex: NSRegularExpression, _ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>,
        into out: inout [Range<Int>]
    ) {
        let text = String(decoding: UnsafeBufferPointer(rebasing: p[range]), as: UTF8.self)
        // ICU reports UTF-16 offsets; map them back to byte offsets.
        var utf8Offset: [Int] = [0]
        utf8Offset.reserveCapacity(text.utf16.count + 1)
        var bytes = 0
        for s in text.unicodeScalars {
            let n = String(s).utf8.count
            bytes += n
            if s.value > 0xFFFF { utf8Offset.append(bytes - n) }
            utf8Offset.append(bytes)
        }
        let all = NSRange(location: 0, length: text.utf16.count)
        for m in regex.matches(in: text, options: [], range: all) where m.range.length > 0 {
            let lower = range.lowerBound + utf8Offset[m.range.location]
            let upper = range.lowerBound + utf8Offset[m.range.location + m.range.length]
            out.append(lower..<upper)
        }
    }
}

/// One pre-tokenizer of a tokenizer.json (or its GGUF equivalent).
indirect enum PreTokenizer: Sendable {
    case split(SplitPattern, behavior: SplitBehavior, invert: Bool)
    /// Byte-level BPE's pre-tokenizer; the byte → character mapping itself happens in the model.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case metaspace(replacement: String, prependScheme: PrependScheme, split: Bool)
    case sequence([PreTokenizer])

    /// Splits every piece; `atTextStart` says whether the first piece begins the original text (for `first`).
    func apply(_ pieces: inout Pieces, atTextStart: Bool) {
        switch self {
        case .sequence(let steps):
            for step in steps { step.apply(&pieces, atTextStart: atTextStart) }
        case .split(let pattern, let behavior, let invert):
            Self.split(&pieces, pattern, behavior, invert)
        case .byteLevel(let addPrefixSpace, let useRegex):
            if addPrefixSpace {
                Self.rewrite(&pieces) { piece, _, out in
                    if piece.first != 0x20 { out.append(0x20) }
                    out.append(contentsOf: piece)
                }
            }
            if useRegex { Self.split(&pieces, .gpt2, .isolated, false) }
        case .metaspace(let replacement, let scheme, let split):
            let mark = Array(replacement.utf8)
            Self.rewrite(&pieces) { piece, index, out in
                let startsWithMark = piece.starts(with: mark)
                let prepend =
                    switch scheme {
                    case .always: !startsWithMark
                    case .first: !startsWithMark && index == 0 && atTextStart
                    case .never: false
                    }
                if prepend { out.append(contentsOf: mark) }
                for b in piece {
                    if b == 0x20 { out.append(contentsOf: mark) } else { out.append(b) }
                }
            }
            if split { Self.split(&pieces, .literal(mark), .mergedWithNext, false) }
        }
    }

    /// Rebuilds the buffer piece by piece when a step changes text, not just boundaries.
    private static func rewrite(
        _ pieces: inout Pieces, _ body: (ArraySlice<UInt8>, Int, inout [UInt8]) -> Void
    ) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(pieces.bytes.count + pieces.ranges.count * 3)
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(pieces.ranges.count)
        for (index, r) in pieces.ranges.enumerated() {
            let start = bytes.count
            body(pieces.bytes[r], index, &bytes)
            if bytes.count > start { ranges.append(start..<bytes.count) }
        }
        pieces = Pieces(bytes: bytes, ranges: ranges)
    }

    static func split(_ pieces: inout Pieces, _ pattern: SplitPattern, _ behavior: SplitBehavior, _ invert: Bool) {
        var result: [Range<Int>] = []
        result.reserveCapacity(pieces.ranges.count * 2 + pieces.bytes.count / 4)
        var found: [Range<Int>] = []
        var marked: [(Range<Int>, Bool)] = []
        pieces.bytes.withUnsafeBufferPointer { p in
            for r in pieces.ranges {
                found.removeAll(keepingCapacity: true)
                pattern.matches(p, r, into: &found)
                // The fast path: the pattern tiles the piece and each match is kept whole.
                if behavior == .isolated && !invert {
                    var at = r.lowerBound
                    for m in found {
                        if m.lowerBound > at { result.append(at..<m.lowerBound) }
                        result.append(m)
                        at = m.upperBound
                    }
                    if at < r.upperBound { result.append(at..<r.upperBound) }
                    continue
                }
                marked.removeAll(keepingCapacity: true)
                var at = r.lowerBound
                for m in found {
                    if m.lowerBound > at { marked.append((at..<m.lowerBound, invert)) }
                    marked.append((m, !invert))
                    at = m.upperBound
                }
                if at < r.upperBound { marked.append((at..<r.upperBound, invert)) }
                combine(marked, behavior, into: &result)
            }
        }
        pieces.ranges = result
    }

    /// HF's rules for turning alternating (range, isMatch) spans into pieces; empty pieces are dropped.
    private static func combine(
        _ spans: [(Range<Int>, Bool)], _ behavior: SplitBehavior, into result: inout [Range<Int>]
    ) {
        let base = result.count
        switch behavior {
        case .isolated:
            for (r, _) in spans { result.append(r) }
        case .removed:
            for (r, isMatch) in spans where !isMatch { result.append(r) }
        case .mergedWithPrevious:
            var previousMatch = false
            for (r, isMatch) in spans {
                if isMatch && !previousMatch && result.count > base {
                    result[result.count - 1] = result[result.count - 1].lowerBound..<r.upperBound
                } else {
                    result.append(r)
                }
                previousMatch = isMatch
            }
        case .mergedWithNext:
            var reversed: [Range<Int>] = []
            var previousMatch = false
            for (r, isMatch) in spans.reversed() {
                if isMatch && !previousMatch && !reversed.isEmpty {
                    reversed[reversed.count - 1] = r.lowerBound..<reversed[reversed.count - 1].upperBound
                } else {
                    reversed.append(r)
                }
                previousMatch = isMatch
            }
            result.append(contentsOf: reversed.reversed())
        case .contiguous:
            var previousMatch: Bool? = nil
            for (r, isMatch) in spans {
                if isMatch == previousMatch && result.count > base {
                    result[result.count - 1] = result[result.count - 1].lowerBound..<r.upperBound
                } else {
                    result.append(r)
                }
                previousMatch = isMatch
            }
        }
        var k = base
        for i in base..<result.count where !result[i].isEmpty {
            result[k] = result[i]
            k += 1
        }
        result.removeLast(result.count - k)
    }
}
