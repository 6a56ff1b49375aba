namespace VitSharp.Kernels;

/// <summary>
/// Cross-entropy on log-probabilities (B × C, from <see cref="Softmax"/> with log = true), with label smoothing
/// (q = (1−ε)·onehot + ε/C, as torch) or soft targets; the backward is the fused softmax − q form.
/// </summary>
public static class Loss
{
    /// <summary>Mean over rows of −Σ_c q_c·logp_c for class-index targets (summed in double).</summary>
    public static float CrossEntropy(ReadOnlySpan<float> logp, int rows, int classes, ReadOnlySpan<int> targets, float smoothing)
    {
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            var row = logp.Slice(r * classes, classes);
            double l = -(1 - smoothing) * row[targets[r]];
            if (smoothing != 0)
            {
                double s = 0;
                for (int c = 0; c < classes; c++) s += row[c];
                l -= smoothing / classes * s;
            }
            total += l;
        }
        return rows == 0 ? float.NaN : (float)(total / rows);
    }

    /// <summary>dlogits = scale·(softmax − q) with softmax = e^logp; scale is usually dLoss/B.</summary>
    public static void CrossEntropyBackward(ReadOnlySpan<float> logp, int rows, int classes, ReadOnlySpan<int> targets, float smoothing, float scale, Span<float> dlogits)
    {
        float off = smoothing / classes;
        for (int r = 0; r < rows; r++)
        {
            var row = logp.Slice(r * classes, classes);
            var d = dlogits.Slice(r * classes, classes);
            for (int c = 0; c < classes; c++) d[c] = scale * (MathF.Exp(row[c]) - off);
            d[targets[r]] -= scale * (1 - smoothing);
        }
    }

    /// <summary>Mean over rows of −Σ_c q_c·logp_c for soft targets q (B × C).</summary>
    public static float SoftCrossEntropy(ReadOnlySpan<float> logp, ReadOnlySpan<float> q, int rows, int classes)
    {
        double total = 0;
        for (int i = 0; i < rows * classes; i++) total -= (double)q[i] * logp[i];
        return rows == 0 ? float.NaN : (float)(total / rows);
    }

    /// <summary>dlogits = scale·(softmax·Σq − q) per row.</summary>
    public static void SoftCrossEntropyBackward(ReadOnlySpan<float> logp, ReadOnlySpan<float> q, int rows, int classes, float scale, Span<float> dlogits)
    {
        for (int r = 0; r < rows; r++)
        {
            var row = logp.Slice(r * classes, classes);
            var qr = q.Slice(r * classes, classes);
            var d = dlogits.Slice(r * classes, classes);
            float sq = 0;
            for (int c = 0; c < classes; c++) sq += qr[c];
            for (int c = 0; c < classes; c++) d[c] = scale * (MathF.Exp(row[c]) * sq - qr[c]);
        }
    }
}
