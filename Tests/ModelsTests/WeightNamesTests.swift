// The HF ⇄ GGUF name table and llama.cpp's Q/K row permutation.
import Testing

@testable import Models

@Suite struct WeightNamesTests {
    static let tiny = ModelConfig(
        architecture: .llama, hiddenSize: 8, intermediateSize: 12, layerCount: 2, headCount: 2,
        kvHeadCount: 1,
        headDim: 4, vocabSize: 10, rmsNormEps: 1e-5, ropeTheta: 10_000, ropeScaling: nil,
        maxPositionEmbeddings: 64,
        tieWordEmbeddings: false, attentionBias: false, qkNorm: false, bosTokenId: 1, eosTokenIds: [2])

    @Test(arguments: Architecture.allCases)
    func everyRoleHasExactlyOneRowAndEveryNameOneRole(architecture: Architecture) {
        let table = WeightNames.table(for: architecture)
        for role in WeightRole.allCases {
            #expect(table.filter { $0.role == role }.count == 1, "\(role)")
        }
        // Names need only be unique among the roles the family has (llama's feed-forward pre-norm has Gemma's
        // post-attention name).
        var config = Self.tiny
        config.architecture = architecture
        let used = Set(WeightNames.layerRoles(for: config) + [.tokenEmbedding, .finalNorm, .outputHead])
        let rows = table.filter { used.contains($0.role) }
        #expect(Set(rows.map(\.huggingFace)).count == rows.count)
        #expect(Set(rows.map(\.gguf)).count == rows.count)
    }

    @Test(arguments: [Architecture.gemma2, .gemma3]) func gemmaNamesItsSandwichNorms(architecture: Architecture) {
        let pairs = [
            ("model.layers.0.post_attention_layernorm.weight", "blk.0.post_attention_norm.weight"),
            ("model.layers.0.pre_feedforward_layernorm.weight", "blk.0.ffn_norm.weight"),
            ("model.layers.4.post_feedforward_layernorm.weight", "blk.4.post_ffw_norm.weight"),
            ("model.layers.4.self_attn.k_norm.weight", "blk.4.attn_k_norm.weight"),
        ]
        for (hf, gguf) in pairs {
            #expect(WeightNames.ggufName(forHuggingFace: hf, architecture: architecture) == gguf)
            #expect(WeightNames.huggingFaceName(forGGUF: gguf, architecture: architecture) == hf)
        }
        var config = Self.tiny
        config.architecture = architecture
        config.qkNorm = architecture.spec.queryKeyNorm
        let queryKeyNorms: [WeightRole] = architecture == .gemma3 ? [.queryNorm, .keyNorm] : []
        #expect(WeightNames.layerRoles(for: config) == [
            .attentionNorm, .query, .key, .value, .attentionOutput] + queryKeyNorms + [.postAttentionNorm,
            .mlpNorm, .gate, .up, .down, .postMLPNorm,
        ])
    }

    @Test func namesTranslateBothWays() {
        let pairs = [
            ("model.embed_tokens.weight", "token_embd.weight"),
            ("model.norm.weight", "output_norm.weight"),
            ("lm_head.weight", "output.weight"),
            ("model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"),
            ("model.layers.12.self_attn.q_proj.weight", "blk.12.attn_q.weight"),
            ("model.layers.3.self_attn.k_proj.bias", "blk.3.attn_k.bias"),
            ("model.layers.7.self_attn.o_proj.weight", "blk.7.attn_output.weight"),
            ("model.layers.1.self_attn.q_norm.weight", "blk.1.attn_q_norm.weight"),
            ("model.layers.29.post_attention_layernorm.weight", "blk.29.ffn_norm.weight"),
            ("model.layers.29.mlp.down_proj.weight", "blk.29.ffn_down.weight"),
            ("model.layers.5.mlp.gate_proj.weight", "blk.5.ffn_gate.weight"),
        ]
        for (hf, gguf) in pairs {
            #expect(WeightNames.ggufName(forHuggingFace: hf, architecture: .llama) == gguf)
            #expect(WeightNames.huggingFaceName(forGGUF: gguf, architecture: .llama) == hf)
        }
        #expect(WeightNames.ggufName(forHuggingFace: "model.layers.x.mlp.up_proj.weight", architecture: .llama) == nil)
        #expect(WeightNames.huggingFaceName(forGGUF: "blk.0.attn_qkv.weight", architecture: .llama) == nil)
        #expect(WeightNames.huggingFaceName(forGGUF: "rope_freqs.weight", architecture: .llama) == nil)
    }

    @Test func expectedTensorsFollowTheConfig() {
        let expected = WeightNames.expectedTensors(for: Self.tiny)
        #expect(expected.count == 1 + 2 * 9 + 2)
        let shapes = Dictionary(uniqueKeysWithValues: expected.map { ($0.huggingFaceName, $0.shape) })
        #expect(shapes["model.embed_tokens.weight"] == [10, 8])
        #expect(shapes["lm_head.weight"] == [10, 8])
        #expect(shapes["model.layers.1.self_attn.q_proj.weight"] == [8, 8])
        #expect(shapes["model.layers.1.self_attn.k_proj.weight"] == [4, 8])
        #expect(shapes["model.layers.1.self_attn.v_proj.weight"] == [4, 8])
        #expect(shapes["model.layers.1.mlp.gate_proj.weight"] == [12, 8])
        #expect(shapes["model.layers.1.mlp.down_proj.weight"] == [8, 12])
        #expect(shapes["model.layers.0.input_layernorm.weight"] == [8])
        var biased = Self.tiny
        biased.attentionBias = true
        biased.tieWordEmbeddings = true
        let names = Set(WeightNames.expectedTensors(for: biased).map(\.ggufName))
        #expect(names.contains("blk.0.attn_output.bias") && names.contains("blk.1.attn_v.bias"))
        #expect(!names.contains("output.weight"))
    }
}

@Suite struct QueryKeyPermutationTests {
    /// Rows numbered by their HF index, 3 columns each: value = 10·row + column.
    static func matrix(rows: Int, columns: Int) -> [Float] {
        (0..<rows * columns).map { Float(10 * ($0 / columns) + $0 % columns) }
    }

    @Test func matchesTheConverterFormulaOnTwoHeads() {
        // numpy: w.reshape(2, 2, 2, 3).swapaxes(1, 2).reshape(8, 3) puts HF rows 0,2,1,3 | 4,6,5,7 in that order.
        let hf = Self.matrix(rows: 8, columns: 3)
        let gguf = QueryKeyPermutation.huggingFaceToGGUF(hf, rows: 8, columns: 3, heads: 2)
        let order = stride(from: 0, to: gguf.count, by: 3).map { Int(gguf[$0]) / 10 }
        #expect(order == [0, 2, 1, 3, 4, 6, 5, 7])
        #expect(QueryKeyPermutation.ggufToHuggingFace(gguf, rows: 8, columns: 3, heads: 2) == hf)
    }

    @Test func unpermuteInvertsPermuteForManyShapes() {
        for (rows, columns, heads) in [(576, 5, 9), (192, 7, 3), (16, 1, 2), (128, 4, 1), (24, 2, 6)] {
            let hf = Self.matrix(rows: rows, columns: columns)
            let there = QueryKeyPermutation.huggingFaceToGGUF(hf, rows: rows, columns: columns, heads: heads)
            #expect(there != hf)
            #expect(
                QueryKeyPermutation.ggufToHuggingFace(there, rows: rows, columns: columns, heads: heads) == hf
            )
            let back = QueryKeyPermutation.ggufToHuggingFace(hf, rows: rows, columns: columns, heads: heads)
            #expect(
                QueryKeyPermutation.huggingFaceToGGUF(back, rows: rows, columns: columns, heads: heads) == hf)
        }
    }
}
