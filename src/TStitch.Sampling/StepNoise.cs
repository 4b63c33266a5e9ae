namespace TStitch.Sampling;

/// <summary>
/// Counter-based Gaussian noise keyed by (seed, sample index, step). Every draw depends only on its
/// key, never on a shared stream, so a sample's image does not depend on how it was batched or
/// which process ran which step, and a job resumed at step k draws exactly what it would have.
/// Hand-written (SplitMix64 + Box-Muller) because System.Random has no keyed/counter mode and no
/// served package offers one; both algorithms are short. SplitMix64 is exact integer arithmetic; Box-Muller's
/// log and sine/cosine come from the C library under .NET's Math, so processes agree bit for bit when their
/// images share one C library (the Dockerfile builds every service of a flavour on one runtime image) and their
/// CPUs the same instruction-set level (glibc picks its FMA or SSE2 versions of these functions by CPU).
/// </summary>
public static class StepNoise
{
    /// <summary>Key of the initial x_T draw (sampling steps are 0..S-1).</summary>
    public const int InitialStep = -1;

    public static void Fill(Span<float> destination, ulong seed, int sampleIndex, int step)
    {
        ulong state = Mix(Mix(Mix(seed) ^ (ulong)(uint)sampleIndex) ^ ((ulong)(uint)step << 32 | 0x5bd1e995UL));
        int i = 0;
        while (i < destination.Length)
        {
            // Box-Muller on two 53-bit uniforms in (0, 1].
            double u1 = ((Next(ref state) >> 11) + 1) * (1.0 / 9007199254740992.0);
            double u2 = (Next(ref state) >> 11) * (1.0 / 9007199254740992.0);
            double r = Math.Sqrt(-2.0 * Math.Log(u1));
            // One call for both: the same bits as Math.Sin and Math.Cos apart (SamplerBytesTests), ~10 % less time.
            (double sin, double cos) = Math.SinCos(2.0 * Math.PI * u2);
            destination[i++] = (float)(r * cos);
            if (i < destination.Length) destination[i++] = (float)(r * sin);
        }
    }

    /// <summary>
    /// Every sample's draw at <paramref name="step"/>: sample b of <paramref name="destination"/> (B x
    /// <paramref name="sampleSize"/>) gets key (seed, b, step). A large batch is drawn on every core: the
    /// draw is ~15 ns a value (the sine and cosine), 3 ms for x_T at batch 64, longer than a model run
    /// of the zoo's large model, and each sample's values depend only on its key, so the split cannot
    /// change a bit.
    /// </summary>
    public static void FillSamples(float[] destination, int sampleSize, ulong seed, int step) =>
        FillSamples(destination, sampleSize, seed, step, destination.Length < ParallelFrom ? 1 : Environment.ProcessorCount);

    /// <summary><see cref="FillSamples(float[], int, ulong, int)"/> over at most <paramref name="parts"/> threads.</summary>
    internal static void FillSamples(float[] destination, int sampleSize, ulong seed, int step, int parts)
    {
        int batch = destination.Length / sampleSize;
        parts = Math.Clamp(parts, 1, Math.Max(1, batch));
        if (parts == 1) DrawPart(0);
        else Parallel.For(0, parts, DrawPart);

        void DrawPart(int part)
        {
            for (int b = part * batch / parts; b < (part + 1) * batch / parts; b++)
                Fill(destination.AsSpan(b * sampleSize, sampleSize), seed, b, step);
        }
    }

    /// <summary>Values below which one thread draws them all: handing work to another core costs tens of microseconds.</summary>
    private const int ParallelFrom = 16_384;

    private static ulong Next(ref ulong state)
    {
        state += 0x9E3779B97F4A7C15UL;
        return Mix(state);
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
