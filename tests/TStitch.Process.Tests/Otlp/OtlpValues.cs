using System.Globalization;
using Google.Protobuf;
using OpenTelemetry.Proto.Common.V1;

namespace TStitch.Process.Tests.Otlp;

/// <summary>OTLP attribute values and ids as plain strings.</summary>
public static class OtlpValues
{
    public static string Hex(ByteString id) => Convert.ToHexStringLower(id.Span);

    public static string Text(AnyValue? value) => value?.ValueCase switch
    {
        AnyValue.ValueOneofCase.StringValue => value.StringValue,
        AnyValue.ValueOneofCase.BoolValue => value.BoolValue ? "true" : "false",
        AnyValue.ValueOneofCase.IntValue => value.IntValue.ToString(CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.DoubleValue => value.DoubleValue.ToString(CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.ArrayValue => "[" + string.Join(", ", value.ArrayValue.Values.Select(Text)) + "]",
        AnyValue.ValueOneofCase.KvlistValue =>
            "{" + string.Join(", ", value.KvlistValue.Values.Select(kv => $"{kv.Key}={Text(kv.Value)}")) + "}",
        AnyValue.ValueOneofCase.BytesValue => Convert.ToHexStringLower(value.BytesValue.Span),
        _ => "",
    };

    public static IReadOnlyDictionary<string, string> Attributes(IEnumerable<KeyValue> attributes)
    {
        var result = new Dictionary<string, string>();
        foreach (var kv in attributes) result[kv.Key] = Text(kv.Value);
        return result;
    }
}
