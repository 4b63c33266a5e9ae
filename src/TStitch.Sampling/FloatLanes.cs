using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace TStitch.Sampling;

/// <summary>
/// Eight floats at a time as two vectors of doubles, for the samplers' one-pass updates: the maths
/// stays in double as in the scalar loops (widening is exact; narrowing rounds to nearest like a
/// (float) cast), so a vectorised step gives the scalar step's bits.
/// </summary>
internal static class FloatLanes
{
    public const int Width = 8;

    /// <summary>Whether the vector loops run (else only the scalar tail loops do).</summary>
    public static bool Enabled => Vector256.IsHardwareAccelerated;

    /// <summary>
    /// x[k] = update.Next(x[k], output[k], noise[k]) for every k, eight at a time and then the scalar
    /// tail; an empty <paramref name="noise"/> reads as zeros. The struct constraint lets the JIT inline
    /// the update into the loop.
    /// </summary>
    public static void Map<T>(Span<float> x, ReadOnlySpan<float> output, ReadOnlySpan<float> noise, T update) where T : struct, ILaneMap
    {
        int k = 0;
        bool noisy = !noise.IsEmpty;
        if (Enabled)
        {
            for (; k <= x.Length - Width; k += Width)
            {
                var (xl, xh) = Load(x, k);
                var (ol, oh) = Load(output, k);
                var (zl, zh) = noisy ? Load(noise, k) : default;
                Store(x, k, update.Next(xl, ol, zl), update.Next(xh, oh, zh));
            }
        }
        for (; k < x.Length; k++) x[k] = (float)update.Next(x[k], output[k], noisy ? noise[k] : 0);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector256<double> Low, Vector256<double> High) Load(ReadOnlySpan<float> values, int at)
    {
        var v = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(values), (nuint)at);
        return (Vector256.WidenLower(v), Vector256.WidenUpper(v));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Span<float> values, int at, Vector256<double> low, Vector256<double> high) =>
        Vector256.Narrow(low, high).StoreUnsafe(ref MemoryMarshal.GetReference(values), (nuint)at);
}
