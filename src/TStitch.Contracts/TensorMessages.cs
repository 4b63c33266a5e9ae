using System.Runtime.InteropServices;
using Google.Protobuf;

namespace TStitch.Contracts;

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

    /// <summary>
    /// Wraps <paramref name="values"/> without copying (hot path: one Denoise request or reply per
    /// step). The caller hands the array over: it must not change it afterwards.
    /// </summary>
    public static Tensor WrapFloats(float[] values, params long[] shape)
    {
        EnsureLittleEndian();
        var t = new Tensor { Data = UnsafeByteOperations.UnsafeWrap(new FloatBytes(values).Memory) };
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

    /// <summary>A float[] seen as bytes, so protobuf can serialise it straight from the array.</summary>
    private sealed class FloatBytes(float[] values) : System.Buffers.MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(values.AsSpan());

        public override System.Buffers.MemoryHandle Pin(int elementIndex = 0)
        {
            var handle = GCHandle.Alloc(values, GCHandleType.Pinned);
            unsafe { return new System.Buffers.MemoryHandle((byte*)handle.AddrOfPinnedObject() + elementIndex, handle); }
        }

        public override void Unpin() { }

        protected override void Dispose(bool disposing) { }
    }
}
