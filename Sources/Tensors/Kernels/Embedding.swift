// Token embedding lookup: a gather forward, a scatter-add backward.

// ids: [N]   table: [V, C]   out, dout: [N, C]

/// out[n] = table[ids[n]] · scale (Gemma scales embeddings by √C; others pass 1).
public func embeddingForward(
    out: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>, table: UnsafePointer<Float>, rows: Int, channels: Int,
    scale: Float = 1
) {
    for n in 0..<rows {
        let source = table + Int(ids[n]) * channels
        let target = out + n * channels
        if scale == 1 {
            target.update(from: source, count: channels)
        } else {
            for c in 0..<channels { target[c] = source[c] * scale }
        }
    }
}

/// out[n] = table[ids[n]] · scale, decoding each row from the table's stored layout.
public func embeddingForward(
    out: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>, table: WeightMatrix, rows: Int, scale: Float = 1
) {
    let channels = table.columns
    for n in 0..<rows {
        let target = out + n * channels
        table.decodeRow(Int(ids[n]), into: target)
        if scale != 1 { for c in 0..<channels { target[c] *= scale } }
    }
}

/// dTable[ids[n]] += dout[n] · scale. Only needed when the embedding itself is trained.
public func embeddingBackward(
    dTable: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>, dout: UnsafePointer<Float>, rows: Int,
    channels: Int, scale: Float = 1
) {
    for n in 0..<rows {
        let target = dTable + Int(ids[n]) * channels
        let source = dout + n * channels
        for c in 0..<channels { target[c] += source[c] * scale }
    }
}
