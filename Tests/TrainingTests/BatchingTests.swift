// Batching: target shift, validation split, seeded order, packing budget, step plans.
import Datasets
import Models
import Testing

@testable import Training

@Suite struct BatchingTests {
    @Test func targetsAreTheNextTrainedTokens() {
        let a = TokenizedExample(ids: [10, 11, 12, 13], trained: [false, false, true, true])
        let b = TokenizedExample(ids: [20, 21, 22], trained: [false, true, false])
        let batch = Batching.tokenBatch([a, b])
        #expect(batch.tokens == [10, 11, 12, 13, 20, 21, 22])
        #expect(batch.targets == [-1, 12, 13, -1, 21, -1, -1])
        #expect(batch.positions == [0, 1, 2, 3, 0, 1, 2])
        #expect(batch.sequenceIds == [0, 0, 0, 0, 1, 1, 1])
        #expect(Batching.targetCount(a) == 2 && Batching.targetCount(b) == 1)
    }

    @Test func splitIsSeededDisjointAndKeepsFileOrder() {
        let examples = Tiny.examples(30)
        let (train, validation) = Batching.split(examples, fraction: 0.1, seed: 42)
        #expect(validation.count == 3 && train.count == 27)
        let again = Batching.split(examples, fraction: 0.1, seed: 42)
        #expect(again.train == train && again.validation == validation)
        let other = Batching.split(examples, fraction: 0.1, seed: 43)
        #expect(other.validation != validation)
        let positions = validation.compactMap { v in examples.firstIndex(of: v) }
        #expect(positions == positions.sorted())
        #expect(Batching.split(examples, fraction: 0, seed: 1).validation.isEmpty)
    }

    @Test func orderIsAPermutationThatChangesEachEpoch() {
        let first = Batching.order(count: 50, seed: 7, epoch: 0)
        let second = Batching.order(count: 50, seed: 7, epoch: 1)
        #expect(first.sorted() == Array(0..<50) && second.sorted() == Array(0..<50))
        #expect(first != second && first != Array(0..<50))
        #expect(first == Batching.order(count: 50, seed: 7, epoch: 0))
    }

    @Test func packingFillsTheTokenBudgetWithWholeExamples() {
        let lengths = [10, 30, 25, 5, 40, 8, 12]
        let order = Array(0..<lengths.count)
        let packed = Batching.microBatches(
            order: order, lengths: lengths, batchSize: 2, maxLength: 40, packing: true)
        #expect(packed.flatMap { $0 } == order)
        for batch in packed { #expect(batch.reduce(0) { $0 + lengths[$1] } <= 80) }
        #expect(packed == [[0, 1, 2, 3], [4, 5, 6]])
        let plain = Batching.microBatches(
            order: order, lengths: lengths, batchSize: 3, maxLength: 32, packing: false)
        #expect(plain == [[0, 1, 2], [3, 4, 5], [6]])
    }

    @Test func planCountsEpochsAccumulationAndMaxSteps() {
        var p = TrainingParameters()
        p.batchSize = 2
        p.gradAccum = 2
        p.epochs = 3
        let lengths = Array(repeating: 8, count: 10)  // 5 micro-batches → 3 steps per epoch (last holds one)
        let plan = Batching.plan(lengths: lengths, parameters: p)
        #expect(plan.count == 9)
        #expect(plan.map(\.epoch) == [0, 0, 0, 1, 1, 1, 2, 2, 2])
        #expect(plan[2].microBatches.count == 1)
        #expect(
            plan.map(\.indexInEpoch) == [0, 1, 2, 0, 1, 2, 0, 1, 2] && plan.allSatisfy { $0.epochLength == 3 }
        )
        #expect(
            plan.filter { $0.epoch == 1 }.flatMap { $0.microBatches.flatMap { $0 } }.sorted() == Array(0..<10)
        )
        p.maxSteps = 11
        let longer = Batching.plan(lengths: lengths, parameters: p)
        #expect(longer.count == 11 && longer.last?.epoch == 3)
        p.maxSteps = 2
        #expect(Batching.plan(lengths: lengths, parameters: p).count == 2)
    }
}
