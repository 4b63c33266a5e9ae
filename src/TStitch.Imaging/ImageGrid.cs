using StbImageWriteSharp;

namespace TStitch.Imaging;

/// <summary>Writes a batch of CHW float images in [-1, 1] as one PNG grid (StbImageWriteSharp does the encoding).</summary>
public static class ImageGrid
{
    private const int Padding = 2;

    public static byte[] ToPng(ReadOnlySpan<float> images, int count, int channels, int height, int width, int columns = 0)
    {
        if (channels is not (1 or 3))
            throw new ArgumentException($"PNG grids need 1 or 3 channels, got {channels}.", nameof(channels));
        if (images.Length != count * channels * height * width)
            throw new ArgumentException($"Expected {count} x {channels} x {height} x {width} values, got {images.Length}.", nameof(images));
        if (columns <= 0) columns = (int)Math.Ceiling(Math.Sqrt(count));
        int rows = (count + columns - 1) / columns;
        int gw = columns * (width + Padding) + Padding, gh = rows * (height + Padding) + Padding;
        var rgb = new byte[gw * gh * 3];
        Array.Fill(rgb, (byte)255);
        int plane = height * width;
        for (int n = 0; n < count; n++)
        {
            int ox = Padding + (n % columns) * (width + Padding), oy = Padding + (n / columns) * (height + Padding);
            var img = images.Slice(n * channels * plane, channels * plane);
            for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            for (int c = 0; c < 3; c++)
            {
                float v = img[(channels == 1 ? 0 : c) * plane + y * width + x];
                rgb[((oy + y) * gw + ox + x) * 3 + c] = (byte)Math.Clamp(MathF.Round((v + 1f) * 127.5f), 0f, 255f);
            }
        }
        using var stream = new MemoryStream();
        new ImageWriter().WritePng(rgb, gw, gh, ColorComponents.RedGreenBlue, stream);
        return stream.ToArray();
    }
}
