namespace TStitch.Sampling;

/// <summary>
/// Counter-based Gaussian noise keyed by (seed, sample index, step). Every draw depends only on its
/// key, never on a shared stream, so a sample's image does not depend on how it was batched or
/// which process ran which step, and a job resumed at step k draws exactly what it would have.
/// Hand-written (SplitMix64 + Box-Muller) because System.Random has no keyed/counter mode and no
/// served package offers one; both algorithms are short and platform independent.
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
            double theta = 2.0 * Math.PI * u2;
            destination[i++] = (float)(r * Math.Cos(theta));
            if (i < destination.Length) destination[i++] = (float)(r * Math.Sin(theta));
        }
    }

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
