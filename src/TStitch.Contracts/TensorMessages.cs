using System.Runtime.InteropServices;
using Google.Protobuf;
using TStitch.Sampling;

namespace TStitch.Contracts;

/// <summary>
/// Float tensors as raw little-endian bytes (one memcpy each way, no per-element encoding), on the
/// wire and in the job store alike.
/// </summary>
public static class TensorMessages
{
    public static Tensor FromFloats(ReadOnlySpan<float> values, params long[] shape)
    {
        var t = new Tensor { Data = ByteString.CopyFrom(AsBytes(values)) };
        t.Shape.AddRange(shape);
        return t;
    }

    /// <summary>
    /// Wraps <paramref name="values"/> without copying (hot path: one Denoise request or reply per
    /// step). The caller hands the array over: it must not change it until the message is serialised.
    /// </summary>
    public static Tensor WrapFloats(float[] values, params long[] shape)
    {
        EnsureLittleEndian();
        var t = new Tensor { Data = UnsafeByteOperations.UnsafeWrap(new FloatBytes(values).Memory) };
        t.Shape.AddRange(shape);
        return t;
    }

    /// <summary>The values of a tensor whose shape must be <paramref name="expectedShape"/> (when given).</summary>
    public static float[] ToFloats(this Tensor? tensor, string field, params long[] expectedShape)
    {
        if (tensor is null) throw new InvalidRequestException(field, $"{field} is missing.");
        if (expectedShape.Length > 0 && !tensor.Shape.SequenceEqual(expectedShape))
            throw new InvalidRequestException(field, $"{field} has shape [{string.Join(", ",
                tensor.Shape)}]; the receiver expects [{string.Join(", ", expectedShape)}].");
        if (tensor.Data.Length % sizeof(float) != 0)
            throw new InvalidRequestException(field, $"{field} has {tensor.Data.Length} bytes, not a whole number of float32 values.");
        long expected = tensor.Shape.Aggregate(1L, (a, d) => a * d);
        if (tensor.Shape.Any(d => d < 0) || expected * sizeof(float) != tensor.Data.Length)
            throw new InvalidRequestException(field, $"{field} has shape [{string.Join(", ",
                tensor.Shape)}] but {tensor.Data.Length / sizeof(float)} values.");
        return FromBytes(tensor.Data.Span);
    }

    /// <summary>
    /// The bytes of <paramref name="values"/> without a copy (a job store write of a latent batch: one
    /// large-object-heap array fewer per checkpoint). The array must not change until they are written.
    /// </summary>
    public static ReadOnlyMemory<byte> BytesOf(float[] values)
    {
        EnsureLittleEndian();
        return new FloatBytes(values).Memory;
    }

    /// <summary>Little-endian bytes as float32 values (a copy); the length must be a multiple of 4.</summary>
    public static float[] FromBytes(ReadOnlySpan<byte> bytes)
    {
        EnsureLittleEndian();
        return MemoryMarshal.Cast<byte, float>(bytes).ToArray();
    }

    private static ReadOnlySpan<byte> AsBytes(ReadOnlySpan<float> values)
    {
        EnsureLittleEndian();
        return MemoryMarshal.AsBytes(values);
    }

    private static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("Tensor bytes are little-endian; this host is big-endian.");
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
