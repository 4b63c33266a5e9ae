namespace TStitch.Models;

/// <summary>
/// Model outputs handed back (<see cref="Sampling.IDenoiser.Recycle"/>) for later runs of the same
/// length to write into, so a model stepping a trajectory allocates no output array per step (each is a
/// large-object-heap array: 196 KB at batch 16 of the zoo, 786 KB at 64). A few arrays, the most recent
/// kept: batch shapes change with load, and an array whose length no run asks for again ages out.
/// Hand-written: ArrayPool rents power-of-two lengths, and an ORT output must be its tensor's exact size.
/// </summary>
internal sealed class OutputBuffers
{
    private const int Capacity = 8;
    private readonly List<float[]> _free = new(Capacity);

    /// <summary>A free array of exactly <paramref name="length"/> values (contents undefined), or a new one.</summary>
    public float[] Take(int length)
    {
        lock (_free)
        {
            for (int i = _free.Count - 1; i >= 0; i--)
            {
                if (_free[i].Length != length) continue;
                var found = _free[i];
                _free.RemoveAt(i);
                return found;
            }
        }
        return new float[length];
    }

    public void Return(float[] array)
    {
        lock (_free)
        {
            if (_free.Count == Capacity) _free.RemoveAt(0);
            _free.Add(array);
        }
    }
}
