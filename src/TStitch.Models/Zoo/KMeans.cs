using System.Numerics.Tensors;

namespace TStitch.Models.Zoo;

/// <summary>Lloyd's k-means with squared distances via |x|^2 - 2 x.mu + |mu|^2 (SIMD dot products).</summary>
internal static class KMeans
{
    public sealed record Result(float[] Centroids, float[] Variances, int[] Counts);

    public static Result Run(float[] points, int n, int d, int k, int iterations, int seed)
    {
        var rng = new Random(seed);
        var pick = Enumerable.Range(0, n).OrderBy(_ => rng.Next()).Take(k).ToArray();
        var mu = new float[k * d];
        for (int j = 0; j < k; j++) points.AsSpan(pick[j] * d, d).CopyTo(mu.AsSpan(j * d, d));
        var assign = new int[n];
        for (int it = 0; it <= iterations; it++)
        {
            Assign(points, n, d, mu, k, assign);
            if (it == iterations) break;
            var sums = new double[k * d];
            var counts = new int[k];
            for (int i = 0; i < n; i++)
            {
                counts[assign[i]]++;
                var p = points.AsSpan(i * d, d);
                var s = sums.AsSpan(assign[i] * d, d);
                for (int q = 0; q < d; q++) s[q] += p[q];
            }
            for (int j = 0; j < k; j++)
                if (counts[j] > 0)
                    for (int q = 0; q < d; q++) mu[j * d + q] = (float)(sums[j * d + q] / counts[j]);
        }
        var variances = new float[k];
        var cnt = new int[k];
        var sq = new double[k];
        for (int i = 0; i < n; i++)
        {
            int j = assign[i];
            cnt[j]++;
            var p = points.AsSpan(i * d, d);
            var m = mu.AsSpan(j * d, d);
            for (int q = 0; q < d; q++) { double diff = p[q] - m[q]; sq[j] += diff * diff; }
        }
        for (int j = 0; j < k; j++) variances[j] = cnt[j] > 0 ? (float)Math.Max(1e-4, sq[j] / cnt[j] / d) : 1e-2f;
        return new Result(mu, variances, cnt);
    }

    private static void Assign(float[] points, int n, int d, float[] mu, int k, int[] assign)
    {
        var muNorm = new float[k];
        for (int j = 0; j < k; j++) muNorm[j] = TensorPrimitives.Dot(mu.AsSpan(j * d, d), mu.AsSpan(j * d, d));
        for (int i = 0; i < n; i++)
        {
            var p = points.AsSpan(i * d, d);
            int best = 0;
            float bestDist = float.PositiveInfinity;
            for (int j = 0; j < k; j++)
            {
                float dist = muNorm[j] - 2 * TensorPrimitives.Dot(p, mu.AsSpan(j * d, d));
                if (dist < bestDist) { bestDist = dist; best = j; }
            }
            assign[i] = best;
        }
    }
}
