using System.Numerics.Tensors;

namespace TStitch.Quality;

/// <summary>
/// Improved precision/recall (Kynkäänniemi et al., 2019): each set's manifold is approximated by
/// k-NN balls around its points; precision asks how much of the fake set lies on the real manifold
/// (fidelity), recall how much of the real set lies on the fake manifold (coverage).
/// </summary>
public static class PrecisionRecall
{
    public static (double Precision, double Recall) Compute(double[][] real, double[][] fake, int k = 3)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        if (real.Length <= k || fake.Length <= k)
            throw new ArgumentException($"Each set needs more than k={k} points.");

        var r = Flatten(real, out int dim);
        var f = Flatten(fake, out int fakeDim);
        if (dim != fakeDim) throw new ArgumentException("Feature dimensions differ.");

        var realRadii = KthNeighbourDistance(r, real.Length, dim, k);
        var fakeRadii = KthNeighbourDistance(f, fake.Length, dim, k);

        double precision = FractionCovered(f, fake.Length, r, realRadii, real.Length, dim);
        double recall = FractionCovered(r, real.Length, f, fakeRadii, fake.Length, dim);
        return (precision, recall);
    }

    // Direct SIMD distances rather than the |x|^2+|y|^2-2x.y trick: the trick's cancellation can put
    // a point a hair outside its own zero-radius ball (duplicates), flipping set-vs-itself results.
    private static double Dist(ReadOnlySpan<double> x, ReadOnlySpan<double> y) => TensorPrimitives.Distance(x, y);

    private static double[] KthNeighbourDistance(double[] x, int n, int dim, int k)
    {
        var radii = new double[n];
        Parallel.For(0, n, () => new double[n - 1], (i, _, dist) =>
        {
            var xi = x.AsSpan(i * dim, dim);
            int c = 0;
            for (int j = 0; j < n; j++)
                if (j != i) dist[c++] = Dist(xi, x.AsSpan(j * dim, dim));
            radii[i] = KthSmallest(dist, k);
            return dist;
        }, _ => { });
        return radii;
    }

    /// <summary>Fraction of query points inside at least one support ball.</summary>
    private static double FractionCovered(double[] q, int nq, double[] s, double[] sRadii, int ns, int dim)
    {
        int covered = 0;
        Parallel.For(0, nq, () => 0, (i, _, local) =>
        {
            var qi = q.AsSpan(i * dim, dim);
            for (int j = 0; j < ns; j++)
                if (Dist(qi, s.AsSpan(j * dim, dim)) <= sRadii[j])
                    return local + 1;
            return local;
        }, local => Interlocked.Add(ref covered, local));
        return (double)covered / nq;
    }

    /// <summary>k-th smallest (1-based); k is tiny, so a bounded insertion list beats sorting N values.</summary>
    private static double KthSmallest(double[] values, int k)
    {
        Span<double> best = k <= 64 ? stackalloc double[k] : new double[k];
        best.Fill(double.PositiveInfinity);
        foreach (var v in values)
        {
            if (v >= best[k - 1]) continue;
            int p = k - 1;
            while (p > 0 && best[p - 1] > v) { best[p] = best[p - 1]; p--; }
            best[p] = v;
        }
        return best[k - 1];
    }

    private static double[] Flatten(double[][] x, out int dim)
    {
        dim = x[0].Length;
        var flat = new double[x.Length * dim];
        for (int i = 0; i < x.Length; i++)
        {
            if (x[i].Length != dim) throw new ArgumentException("Ragged feature vectors.");
            x[i].CopyTo(flat, i * dim);
        }
        return flat;
    }
}
