// libFuzzer entry for loading a Hugging Face tokenizer.json (`Tokenizer(tokenizerJSON:configJSON:path:)`): any bytes
// must load or throw a TokenizersError, and a loaded tokenizer must encode and decode a few fixed texts; never crash,
// hang or blow up memory. Inputs are capped at 256 KiB, so a vocabulary or merge list stays small.
// Built and run by Scripts/fuzz (`Scripts/fuzz 60 TokenizerJSON`).
// fuzz-modules: BlockKernels Formats Tokenizers
// fuzz-options: -max_len=262144
//
// Input layout: tokenizer.json, then optionally a 0 byte and tokenizer_config.json.
import Foundation
import Tokenizers

private let texts = [
    "Hello world",
    " naïve café — 日本語 🙂\n\tdon't 1234567",
    "<|im_start|>user\nhi<|im_end|><s></s>",
    "  x  ",
    "",
]

private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant violated: \(message())") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let split = bytes.firstIndex(of: 0) ?? size
    let json = Data(bytes[..<split])
    let config = split < size ? Data(bytes[(split + 1)...]) : nil
    let tokenizer: Tokenizer
    do {
        tokenizer = try Tokenizer(tokenizerJSON: json, configJSON: config, path: "tokenizer.json")
    } catch let error as TokenizersError {
        _ = error.description
        return 0
    } catch {
        fatalError("loading threw a non-TokenizersError: \(error)")
    }

    let size = tokenizer.vocabularySize
    for id in [tokenizer.bosTokenId, tokenizer.eosTokenId, tokenizer.padTokenId, tokenizer.unknownTokenId] {
        guard let id else { continue }
        check(tokenizer.token(id) != nil, "special id \(id) has no token")
    }
    for text in texts {
        for parseSpecial in [true, false] {
            // The text's own ids all name tokens; the post-processor's prefix and suffix come from the file as they are.
            let ids = tokenizer.encode(text, addSpecialTokens: false, parseSpecial: parseSpecial)
            for id in ids {
                check(
                    id >= 0 && id < size && tokenizer.token(id) != nil,
                    "encoded id \(id) of \(size) has no token")
            }
            let withSpecials = tokenizer.encode(text, addSpecialTokens: true, parseSpecial: parseSpecial)
            check(
                withSpecials == tokenizer.prefixTokens + ids + tokenizer.suffixTokens,
                "special tokens misplaced")
            _ = tokenizer.decode(withSpecials)
            _ = tokenizer.decode(withSpecials, skipSpecialTokens: true)
        }
    }
    // Ids that are not tokens are skipped, never looked up.
    _ = tokenizer.decode([-1, size, Int.max, Int.min, 0, size - 1])
    if let id = tokenizer.tokenId("a") {
        check(tokenizer.token(id) != nil, "tokenId(\"a\") = \(id) has no token")
    }
    return 0
}
