// Learning-rate schedules with linear warm-up, as transformers' get_{constant,linear,cosine}_schedule_with_warmup.
import Foundation

extension LearningRateSchedule {
    /// The learning rate of 1-based optimizer `step` in a run of `total` steps with `warmup` warm-up steps.
    ///
    /// Like transformers' LambdaLR, the multiplier is evaluated at the 0-based index `step − 1`, so the first step
    /// of a warm-up uses rate 0 and linear/cosine reach 0 only after the last step.
    public func learningRate(step: Int, total: Int, warmup: Int, peak: Float) -> Float {
        let current = Double(step - 1)
        if current < Double(warmup) { return Float(Double(peak) * current / Double(max(1, warmup))) }
        let progress = (current - Double(warmup)) / Double(max(1, total - warmup))
        switch self {
        case .constant:
            return peak
        case .linear:
            return Float(Double(peak) * max(0, 1 - progress))
        case .cosine:
            return Float(Double(peak) * max(0, 0.5 * (1 + cos(Double.pi * progress))))
        }
    }
}
