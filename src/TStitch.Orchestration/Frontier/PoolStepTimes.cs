namespace TStitch.Orchestration.Frontier;

/// <summary>
/// Live cost of a step on each pool, in milliseconds per image, from the stages jobs ran there: a
/// stage's wall time (from the call to its final state, so waiting in the pool's batcher, the call's
/// start and its checkpoints are in) over its steps and images, summed over the stages that ended in the
/// last <see cref="Window"/>. It corrects the profile's measured costs (another machine, another load)
/// when predicting a schedule's latency, and is the load controller's view of the pools' load.
/// Whole stages, not the gaps between step events: a busy orchestrator reads a stage's events in bursts,
/// so single gaps swing between ~0 and several steps' worth, while a stage's total is what the job paid.
/// </summary>
public sealed class PoolStepTimes(TimeProvider time)
{
    /// <summary>How far back the average reaches: several stages of every running job, a couple of control intervals.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(2);
    private const int Buckets = 4;
    private static readonly double BucketSeconds = Window.TotalSeconds / Buckets;

    private readonly Dictionary<string, Totals> _pools = new();

    public PoolStepTimes() : this(TimeProvider.System) { }

    /// <summary>
    /// A stage of <paramref name="steps"/> steps over <paramref name="images"/> images on
    /// <paramref name="pool"/> took <paramref name="ms"/>.
    /// </summary>
    public void Observe(string pool, double ms, int steps, int images)
    {
        if (!double.IsFinite(ms) || ms < 0 || steps < 1 || images < 1) return;
        long slot = Slot();
        lock (_pools)
        {
            if (!_pools.TryGetValue(pool, out var totals)) _pools[pool] = totals = new Totals();
            int i = (int)(slot % Buckets);
            if (totals.Slot[i] != slot) (totals.Slot[i], totals.MsPerImage[i], totals.Steps[i]) = (slot, 0, 0);
            totals.MsPerImage[i] += ms / images;
            totals.Steps[i] += steps;
        }
    }

    /// <summary>Milliseconds per step per image over the last <see cref="Window"/>, or null when no stage ended there in it.</summary>
    public double? MsPerImage(string pool)
    {
        long slot = Slot();
        lock (_pools)
        {
            if (!_pools.TryGetValue(pool, out var totals)) return null;
            double ms = 0, steps = 0;
            for (int i = 0; i < Buckets; i++)
                if (totals.Slot[i] > slot - Buckets && totals.Slot[i] <= slot)
                {
                    ms += totals.MsPerImage[i];
                    steps += totals.Steps[i];
                }
            return steps > 0 ? ms / steps : null;
        }
    }

    private long Slot() => (long)(time.GetTimestamp() / (double)time.TimestampFrequency / BucketSeconds);

    /// <summary>Per bucket of the window: which slot of time it holds, and the sums of its stages.</summary>
    private sealed class Totals
    {
        public readonly long[] Slot = Enumerable.Repeat(long.MinValue, Buckets).ToArray();
        public readonly double[] MsPerImage = new double[Buckets];
        public readonly double[] Steps = new double[Buckets];
    }
}
