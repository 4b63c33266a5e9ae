using System.Runtime.InteropServices;
using Google.Protobuf;

namespace TStitch.Protos;

/// <summary>Float tensors as raw little-endian bytes (one memcpy each way, no per-element encoding).</summary>
public static class TensorMessages
{
    public static Tensor FromFloats(ReadOnlySpan<float> values, params long[] shape)
    {
        EnsureLittleEndian();
        var t = new Tensor { Data = ByteString.CopyFrom(MemoryMarshal.AsBytes(values)) };
        t.Shape.AddRange(shape);
        return t;
    }

    public static float[] ToFloats(this Tensor tensor, string field)
    {
        EnsureLittleEndian();
        if (tensor is null) throw new ArgumentException($"{field} is missing.", field);
        if (tensor.Data.Length % sizeof(float) != 0)
            throw new ArgumentException($"{field} has {tensor.Data.Length} bytes, not a whole number of float32 values.", field);
        long expected = tensor.Shape.Aggregate(1L, (a, d) => a * d);
        if (tensor.Shape.Any(d => d < 0) || expected * sizeof(float) != tensor.Data.Length)
            throw new ArgumentException($"{field} has shape [{string.Join(", ", tensor.Shape)}] but {tensor.Data.Length / sizeof(float)} values.", field);
        return MemoryMarshal.Cast<byte, float>(tensor.Data.Span).ToArray();
    }

    private static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Tensor bytes are little-endian; this host is big-endian.");
    }
}
