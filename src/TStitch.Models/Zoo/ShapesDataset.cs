namespace TStitch.Models.Zoo;

/// <summary>
/// A procedural, class-conditional image dataset made from a seed: ten classes of shapes and
/// patterns (disc, square, triangle, stripes, checks, cross, ring, diagonal, two dots) at random
/// position, scale, foreground and background colour. It stands in for ImageNet: no data set can be
/// downloaded here, and these classes need global structure (where, how big) and detail (edges).
/// </summary>
public static class ShapesDataset
{
    public const int Classes = 10;
    public const int Size = 32;
    public const int Channels = 3;
    public static readonly string[] ClassNames =
        ["disc", "square", "triangle", "h-stripes", "v-stripes", "cross", "ring", "checks", "diagonal", "two-dots"];

    /// <summary>Image i has class i mod 10, so every split is balanced.</summary>
    public static LabelledImages Generate(int count, int seed)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), $"count must be >= 1, got {count}.");
        var rng = new Random(seed);
        int d = Channels * Size * Size;
        var pixels = new float[count * d];
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            labels[i] = i % Classes;
            Draw(labels[i], rng, pixels.AsSpan(i * d, d));
        }
        return new LabelledImages(pixels, labels, Channels, Size);
    }

    private static void Draw(int cls, Random r, Span<float> image)
    {
        double cx = Uniform(r, 8, 24), cy = Uniform(r, 8, 24), sz = Uniform(r, 4, 9);
        Span<double> fg = [Uniform(r, 0.3, 1), Uniform(r, 0.3, 1), Uniform(r, 0.3, 1)];
        Span<double> bg = [Uniform(r, 0, 0.3), Uniform(r, 0, 0.3), Uniform(r, 0, 0.3)];
        int k = Math.Max(2, (int)(sz / 2));
        for (int y = 0; y < Size; y++)
        for (int x = 0; x < Size; x++)
        {
            double dx = x - cx, dy = y - cy;
            bool on = cls switch
            {
                0 => dx * dx + dy * dy < sz * sz,
                1 => Math.Abs(dx) < sz && Math.Abs(dy) < sz,
                2 => dy < sz && dy > -sz && Math.Abs(dx) < (dy + sz) / 2,
                3 => (y / k) % 2 == 0,
                4 => (x / k) % 2 == 0,
                5 => Math.Abs(dx) < sz / 3 || Math.Abs(dy) < sz / 3,
                6 => Math.Sqrt(dx * dx + dy * dy) is var dist && dist < sz && dist > sz - 3,
                7 => (x / k + y / k) % 2 == 0,
                8 => Math.Abs(dx - dy) < sz / 3,
                _ => (dx + 6) * (dx + 6) + dy * dy < sz * sz / 4 || (dx - 6) * (dx - 6) + dy * dy < sz * sz / 4,
            };
            for (int c = 0; c < Channels; c++)
                image[c * Size * Size + y * Size + x] = (float)((on ? fg[c] : bg[c]) * 2 - 1);
        }
    }

    private static double Uniform(Random r, double lo, double hi) => lo + (hi - lo) * r.NextDouble();
}
