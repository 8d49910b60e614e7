// Writes the GGUF fuzz seed corpus (Tests/Fixtures/gguf/corpus) from GGUFWriter output; the outputs are committed.
// Run from the repository root (after Scripts/reference/gguf_dequant.py, whose blocks it reuses):
//   swiftc -module-name CorpusGen Tests/Fixtures/gguf/make_corpus.swift Sources/Formats/*.swift -o /tmp/gguf-corpus && /tmp/gguf-corpus "$PWD"
import Foundation

let root = URL(fileURLWithPath: CommandLine.arguments[1])
let corpus = root.appendingPathComponent("Tests/Fixtures/gguf/corpus")
try FileManager.default.createDirectory(at: corpus, withIntermediateDirectories: true)
func save(_ name: String, _ writer: GGUFWriter) throws {
    try Data(try writer.encoded()).write(to: corpus.appendingPathComponent(name))
}

var meta = GGUFWriter()
meta.set("general.architecture", .string("llama"))
meta.set("llama.block_count", .uint32(2))
meta.set("llama.rope.freq_base", .float32(10000))
meta.set("f64", .float64(0.5)); meta.set("i64", .int64(-1)); meta.set("u64", .uint64(7))
meta.set("i8", .int8(-3)); meta.set("u16", .uint16(9)); meta.set("i16", .int16(-9)); meta.set("b", .bool(true))
meta.set("tokenizer.ggml.tokens", .array(["<s>", "</s>", "a", "ab", "▁x"].map { .string($0) }))
meta.set("tokenizer.ggml.scores", .array([0, -1, -2, -3, -4].map { .float32($0) }))
meta.set("nested", .array([.array([.int32(1)]), .array([.int32(2), .int32(3)])]))
try save("metadata.gguf", meta)

var small = GGUFWriter()
small.set("general.architecture", .string("llama"))
let values = (0..<64).map { Float(sin(Double($0))) }
try small.addTensor(name: "a.f32", shape: [2, 32], floats: values, as: .f32)
try small.addTensor(name: "b.f16", shape: [2, 32], floats: values, as: .f16)
try small.addTensor(name: "c.q8", shape: [64], floats: values, as: .q8_0)
try save("tensors.gguf", small)

var aligned = try GGUFWriter(alignment: 64)
try aligned.addTensor(name: "x", shape: [32], floats: Array(values[0..<32]), as: .q8_0)
try save("aligned64.gguf", aligned)

let blocks = root.appendingPathComponent("Tests/Fixtures/gguf/blocks")
var quants = GGUFWriter()
quants.set("general.name", .string("every type"))
for (name, type) in [("Q4_0", GGMLType.q4_0), ("Q4_1", .q4_1), ("Q5_0", .q5_0), ("Q5_1", .q5_1), ("Q8_0", .q8_0),
                     ("Q2_K", .q2_K), ("Q3_K", .q3_K), ("Q4_K", .q4_K), ("Q5_K", .q5_K), ("Q6_K", .q6_K), ("BF16", .bf16)] {
    let raw = [UInt8](try Data(contentsOf: blocks.appendingPathComponent("\(name).bin")))
    let block = type.blockSize!, size = type.typeSize!
    let one = Array(raw[0..<size])
    try quants.addTensor(name: "t.\(name)", shape: [block], type: type, bytes: one)
}
try save("quants.gguf", quants)
