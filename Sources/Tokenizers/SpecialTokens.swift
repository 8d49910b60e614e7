// Added and special tokens: found in the text before normalization and BPE, leftmost-longest, and never split.

/// A token matched as a whole before the model sees the text (`<|im_start|>`, `<s>`, user-defined tokens).
public struct AddedToken: Sendable, Equatable {
    public let id: Int
    public let content: String
    /// Special tokens are control tokens: `decode(skipSpecialTokens: true)` drops them and
    /// `encode(parseSpecial: false)` does not look for them.
    public let special: Bool
    /// Swallow whitespace before the token.
    public let lstrip: Bool
    /// Swallow whitespace after the token.
    public let rstrip: Bool
    /// Match only when not inside a word.
    public let singleWord: Bool
    /// Match against normalized text rather than the raw input.
    public let normalized: Bool

    public init(
        id: Int, content: String, special: Bool, lstrip: Bool = false, rstrip: Bool = false,
        singleWord: Bool = false, normalized: Bool = false
    ) {
        self.id = id
        self.content = content
        self.special = special
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.singleWord = singleWord
        self.normalized = normalized
    }
}

/// A stretch of input: text for the model, or an added token's id.
enum Segment {
    case text(Range<Int>)
    case token(Int)
}

/// Finds added tokens in UTF-8 text, leftmost first and longest at a position (HF's leftmost-longest).
struct AddedTokenMatcher: Sendable {
    private let tokens: [AddedToken]
    private let bytes: [[UInt8]]
    /// Candidates by first byte, longest first.
    private let byFirstByte: [[Int]]

    init(_ tokens: [AddedToken]) {
        let usable = tokens.filter { !$0.content.isEmpty }
        self.tokens = usable
        bytes = usable.map { Array($0.content.utf8) }
        var table = [[Int]](repeating: [], count: 256)
        for (i, b) in bytes.enumerated() { table[Int(b[0])].append(i) }
        let lengths = bytes.map(\.count)
        byFirstByte = table.map { $0.sorted { lengths[$0] > lengths[$1] } }
    }

    var isEmpty: Bool { tokens.isEmpty }

    /// Splits `range` into text and token segments.
    func split(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, parseSpecial: Bool, into out: inout [Segment]) {
        var textStart = range.lowerBound
        var i = range.lowerBound
        let end = range.upperBound
        scan: while i < end {
            let candidates = byFirstByte[Int(p[i])]
            if candidates.isEmpty {
                i += 1
                continue
            }
            for c in candidates {
                let needle = bytes[c]
                let token = tokens[c]
                guard i + needle.count <= end, parseSpecial || !token.special else { continue }
                var equal = true
                for k in 1..<needle.count where p[i + k] != needle[k] {
                    equal = false
                    break
                }
                guard equal else { continue }
                var matchStart = i
                var matchEnd = i + needle.count
                if token.singleWord
                    && (Self.wordCharacterBefore(p, matchStart, floor: range.lowerBound)
                        || Self.wordCharacterAt(p, matchEnd, end))
                {
                    continue
                }
                if token.lstrip {
                    while matchStart > textStart, let w = Self.whitespaceBefore(p, matchStart, floor: textStart) {
                        matchStart = w
                    }
                }
                if token.rstrip {
                    while matchEnd < end, let w = Self.whitespaceAt(p, matchEnd, end) { matchEnd = w }
                }
                if matchStart > textStart { out.append(.text(textStart..<matchStart)) }
                out.append(.token(token.id))
                textStart = matchEnd
                i = matchEnd
                continue scan
            }
            i += 1
        }
        if textStart < end { out.append(.text(textStart..<end)) }
    }

    /// The start of the whitespace character ending at `i`, if there is one.
    private static func whitespaceBefore(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, floor: Int) -> Int? {
        var s = i - 1
        while s > floor && p[s] & 0xC0 == 0x80 { s -= 1 }
        let (scalar, _) = decodeScalar(p, s)
        return CharClass.of(scalar).contains(.space) ? s : nil
    }

    private static func whitespaceAt(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Int? {
        let (scalar, n) = decodeScalar(p, i)
        return CharClass.of(scalar).contains(.space) ? i + n : nil
    }

    private static func isWordCharacter(_ scalar: UInt32) -> Bool {
        scalar == 0x5F || !CharClass.of(scalar).isDisjoint(with: [.letter, .number])
    }

    private static func wordCharacterBefore(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, floor: Int) -> Bool {
        guard i > floor else { return false }
        var s = i - 1
        while s > floor && p[s] & 0xC0 == 0x80 { s -= 1 }
        return isWordCharacter(decodeScalar(p, s).0)
    }

    private static func wordCharacterAt(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Bool {
        i < end && isWordCharacter(decodeScalar(p, i).0)
    }
}
