// AdamW with decoupled weight decay, step for step as torch.optim.AdamW (default, non-amsgrad, non-fused).
import Foundation

/// AdamW hyper-parameters.
public struct AdamWParameters: Sendable, Equatable, Codable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var weightDecay: Float = 0.0
    public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0.0) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }
}

// parameters, gradients, m, v: [count]

/// One update at 1-based `step` with learning rate `lr`:
/// p ← p·(1 − lr·wd); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; p ← p − lr·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε).
public func adamWStep(
    parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
    v: UnsafeMutablePointer<Float>, count: Int, step: Int, learningRate lr: Float, hyper: AdamWParameters
) {
    // torch computes the bias corrections in Python floats (Double) and the update in the tensor dtype.
    let correction1 = 1 - pow(Double(hyper.beta1), Double(step))
    let correction2 = 1 - pow(Double(hyper.beta2), Double(step))
    let stepSize = Float(Double(lr) / correction1)
    let correction2Root = Float(correction2.squareRoot())
    let decay = 1 - lr * hyper.weightDecay
    for i in 0..<count {
        let g = gradients[i]
        parameters[i] *= decay
        m[i] = m[i] + (g - m[i]) * (1 - hyper.beta1)
        v[i] = v[i] * hyper.beta2 + (1 - hyper.beta2) * g * g
        let denominator = v[i].squareRoot() / correction2Root + hyper.epsilon
        parameters[i] -= stepSize * m[i] / denominator
    }
}

