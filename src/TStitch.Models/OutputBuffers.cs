using System.Collections.Concurrent;

namespace TStitch.Models;

/// <summary>
/// Model outputs handed back (<see cref="Sampling.IDenoiser.Recycle"/>) for later runs of the same
/// length to write into, so a model stepping a trajectory allocates no output array per step (each is a
/// large-object-heap array: 196 KB at batch 16 of the zoo, 786 KB at 64). A few arrays per length, for
/// a bounded number of lengths: batch shapes change with load, and arrays beyond the bounds are left to
/// the collector. Lock-free: every stage run on a replica hands its outputs back after each step.
/// Hand-written: ArrayPool rents power-of-two lengths, and an ORT output must be its tensor's exact size.
/// </summary>
internal sealed class OutputBuffers
{
    private const int PerLength = 4, Lengths = 16;
    private readonly ConcurrentDictionary<int, ConcurrentBag<float[]>> _free = new();

    /// <summary>A free array of exactly <paramref name="length"/> values (contents undefined), or a new one.</summary>
    public float[] Take(int length) =>
        _free.TryGetValue(length, out var bag) && bag.TryTake(out var array) ? array : new float[length];

    public void Return(float[] array)
    {
        if (!_free.TryGetValue(array.Length, out var bag))
        {
            if (_free.Count >= Lengths) return;
            bag = _free.GetOrAdd(array.Length, _ => []);
        }
        // A racing Return may overshoot PerLength by a few arrays; the bound is about memory, not exactness.
        if (bag.Count < PerLength) bag.Add(array);
    }
}
