using Google.Protobuf;

namespace TStitch.Models.Onnx;

/// <summary>
/// Writes small ONNX graphs with Google.Protobuf and the schema subset in onnx_subset.proto.
/// Hand-written because no package served here writes ONNX from .NET (the onnx Python package is
/// the usual tool); the schema's field numbers are the ONNX IR spec's, so any runtime reads it.
/// </summary>
public sealed class GraphBuilder(string graphName)
{
    /// <summary>IR version 8 / opset 17: what ONNX Runtime 1.31 was checked against.</summary>
    public const long IrVersion = 8;
    public const long OpsetVersion = 17;

    private readonly GraphProto _graph = new() { Name = graphName };
    private int _nextId;

    /// <summary>A fresh, unique tensor name.</summary>
    public string Name(string hint) => $"{hint}_{_nextId++}";

    public void AddInput(string name, TensorProto.Types.DataType type, params object[] dims) =>
        _graph.Input.Add(ValueInfo(name, type, dims));

    public void AddOutput(string name, TensorProto.Types.DataType type, params object[] dims) =>
        _graph.Output.Add(ValueInfo(name, type, dims));

    public string Constant(string hint, float[] values, params long[] dims) => Constant(hint, values, TensorProto.Types.DataType.Float,
        dims);

    public string Constant(string hint, long[] values, params long[] dims) => Constant(hint, values, TensorProto.Types.DataType.Int64,
        dims);

    /// <summary>An initializer holding <paramref name="values"/> as raw little-endian bytes.</summary>
    private string Constant<T>(string hint, T[] values, TensorProto.Types.DataType type, long[] dims) where T : unmanaged
    {
        var t = new TensorProto { Name = Name(hint), DataType = (int)type };
        t.Dims.AddRange(dims);
        t.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        _graph.Initializer.Add(t);
        return t.Name;
    }

    public string Scalar(string hint, float value) => Constant(hint, [value]);

    /// <summary>Adds a node with one output and returns that output's name.</summary>
    public string Op(string opType, string[] inputs, params AttributeProto[] attributes) =>
        OpNamed(opType, Name(opType.ToLowerInvariant()), inputs, attributes);

    /// <summary>Adds a node whose single output gets the given name (for graph outputs).</summary>
    public string OpNamed(string opType, string output, string[] inputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Name("node") };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return output;
    }

    public static AttributeProto Attr(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Attr(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public byte[] ToModelBytes(string producer = "tstitch", IReadOnlyDictionary<string, string>? metadata = null)
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = producer,
            ProducerVersion = "1",
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OpsetVersion });
        if (metadata is not null)
            foreach (var (k, v) in metadata)
                model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return model.ToByteArray();
    }

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            shape.Dim.Add(d switch
            {
                string symbolic => new TensorShapeProto.Types.Dimension { DimParam = symbolic },
                int i => new TensorShapeProto.Types.Dimension { DimValue = i },
                long l => new TensorShapeProto.Types.Dimension { DimValue = l },
                _ => throw new ArgumentException($"Dimension must be int, long or string, got {d}", nameof(dims)),
            });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
