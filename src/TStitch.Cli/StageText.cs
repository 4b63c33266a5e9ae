using System.Globalization;

namespace TStitch.Cli;

/// <summary>Stages on the command line: "small:0.3,base:0.3,large:0.4" (a bare number r means small:r,large:1-r).</summary>
internal static class StageText
{
    public static IReadOnlyList<(string Model, double Fraction)> Parse(string text)
    {
        if (double.TryParse(text, CultureInfo.InvariantCulture, out var r)) return [("small", r), ("large", 1 - r)];
        return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(part =>
        {
            var pieces = part.Split(':');
            if (pieces.Length != 2 || !double.TryParse(pieces[1], CultureInfo.InvariantCulture, out var f))
                throw new ArgumentException($"Stage '{part}' is not model:fraction (e.g. small:0.4,large:0.6).");
            return (pieces[0], f);
        }).ToList();
    }
}
