// A frozen projection with its LoRA: y (+)= x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ, and the mirrored backward that adds
// dA and dB and passes dx through W and the adapter.
import Formats
import Foundation
import Tensors

extension Transformer {
    /// y (+)= x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ, keeping t = drop(x)·Aᵀ for backward.
    func linearForward(
        _ l: Int, _ target: LoRATarget, _ linear: FrozenLinear, x: FloatBuffer, y: FloatBuffer, rows n: Int,
        activations a: LayerActivations, accumulate: Bool, training: Bool
    ) {
        let (input, output) = (linear.inFeatures, linear.outFeatures)
        guard let scratch else { preconditionFailure("reserve allocates scratch") }
        matmul.forward(y: y.pointer, x: x.pointer, weight: linear.weight, rows: n, accumulate: accumulate)
        if let bias = linear.bias {
            for row in 0..<n {
                let yr = y.pointer + row * output
                for o in 0..<output { yr[o] += bias.pointer[o] }
            }
        }
        guard let lora, let slot = lora.slot(layer: l, target: target), let t = a.loraHidden[target] else { return }
        let r = lora.config.rank
        var source = x.pointer
        if training, lora.config.dropout > 0, let mask = a.dropoutMasks[target] {
            fillDropoutMask(mask, count: n * input, layer: l, target: target)
            let dropped = scratch.dropped.pointer
            for i in 0..<(n * input) { dropped[i] = x.pointer[i] * mask.pointer[i] }
            source = dropped
        }
        let parameters = lora.values.pointer
        gemm(transposeA: false, transposeB: true, m: n, n: r, k: input, alpha: 1, a: source,
             b: parameters + slot.offsetA, beta: 0, c: t.pointer)
        gemm(transposeA: false, transposeB: true, m: n, n: output, k: r, alpha: lora.config.scale, a: t.pointer,
             b: parameters + slot.offsetB, beta: 1, c: y.pointer)
    }

    func fillDropoutMask(_ mask: FloatBuffer, count: Int, layer: Int, target: LoRATarget) {
        guard let lora else { return }
        let p = lora.config.dropout
        let keep = 1 / (1 - p)
        // The parts of a fused module see one input and so one mask, as in PEFT.
        let maskTarget = config.architecture.spec.fused(target)?.parts[0] ?? target
        let targetIndex = UInt64(LoRATarget.allCases.firstIndex(of: maskTarget) ?? 0)
        var generator = SplitMix64(seed: dropoutSeed &* 0x2545_F491_4F6C_DD1D &+ UInt64(layer) &* 16 &+ targetIndex)
        for i in 0..<count {
            let u = Float(generator.next() >> 40) * (1.0 / 16_777_216.0)
            mask.pointer[i] = u < p ? 0 : keep
        }
    }

    /// Backward of `linearForward`: dB += s·dyᵀ·t; dt = s·dy·B; dA += dtᵀ·drop(x); dx (+)= dy·W + (dt·A)·mask.
    func linearBackward(
        _ l: Int, _ target: LoRATarget, _ linear: FrozenLinear, dy: FloatBuffer, x: FloatBuffer, dx: FloatBuffer?,
        rows n: Int, activations a: LayerActivations, accumulate: Bool
    ) {
        let (input, output) = (linear.inFeatures, linear.outFeatures)
        guard let scratch else { preconditionFailure("reserve allocates scratch") }
        if let dx {
            matmul.inputGradient(dx: dx.pointer, dy: dy.pointer, weight: linear.weight, rows: n, accumulate: accumulate)
        }
        guard let lora, let slot = lora.slot(layer: l, target: target), let t = a.loraHidden[target] else { return }
        let r = lora.config.rank
        let s = lora.config.scale
        let parameters = lora.values.pointer
        let gradients = lora.gradients.pointer
        let dt = scratch.loraHidden.pointer
        gemm(transposeA: true, transposeB: false, m: output, n: r, k: n, alpha: s, a: dy.pointer, b: t.pointer,
             beta: 1, c: gradients + slot.offsetB)
        gemm(transposeA: false, transposeB: false, m: n, n: r, k: output, alpha: s, a: dy.pointer,
             b: parameters + slot.offsetB, beta: 0, c: dt)
        var source = x.pointer
        let mask = lora.config.dropout > 0 ? a.dropoutMasks[target] : nil
        if let mask {
            let dropped = scratch.dropped.pointer
            for i in 0..<(n * input) { dropped[i] = x.pointer[i] * mask.pointer[i] }
            source = dropped
        }
        gemm(transposeA: true, transposeB: false, m: r, n: input, k: n, alpha: 1, a: dt, b: source, beta: 1,
             c: gradients + slot.offsetA)
        guard let dx else { return }
        if let mask {
            let dropped = scratch.dropped.pointer
            gemm(transposeA: false, transposeB: false, m: n, n: input, k: r, alpha: 1, a: dt,
                 b: parameters + slot.offsetA, beta: 0, c: dropped)
            for i in 0..<(n * input) { dx.pointer[i] += dropped[i] * mask.pointer[i] }
        } else {
            gemm(transposeA: false, transposeB: false, m: n, n: input, k: r, alpha: 1, a: dt,
                 b: parameters + slot.offsetA, beta: 1, c: dx.pointer)
        }
    }
}
