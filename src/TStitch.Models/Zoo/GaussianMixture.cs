using System.Numerics.Tensors;

namespace TStitch.Models.Zoo;

/// <summary>
/// An isotropic Gaussian mixture over images: component k has mean mu_k, variance s_k^2 per pixel,
/// weight pi_k and a class label. Its exact denoiser is closed-form, which is what makes it a model
/// zoo that needs no training: E[eps | x_t, t, y] for x_t = sqrt(a) x0 + sqrt(1-a) eps is
///   sqrt(1-a) * sum_k p_k(x_t) (x_t - sqrt(a) mu_k) / v_k,   v_k = a s_k^2 + 1 - a,
///   p = softmax_k(log pi_k - D/2 log v_k - |x_t - sqrt(a) mu_k|^2 / (2 v_k)) over class y's components
/// (all components for the null class, so classifier-free guidance works).
/// </summary>
public sealed record GaussianMixture(float[] Means, float[] Variances, float[] Weights, int[] ComponentClasses, int Dimension)
{
    public int Components => Weights.Length;
    public ReadOnlySpan<float> Mean(int k) => Means.AsSpan(k * Dimension, Dimension);

    /// <summary>
    /// The closed form above evaluated directly in double precision, one sample at a time: the
    /// reference the ONNX graph is tested against.
    /// </summary>
    public double[] Epsilon(ReadOnlySpan<float> x, double alphaBar, int label, int numClasses)
    {
        int d = Dimension;
        double sa = Math.Sqrt(alphaBar);
        var logits = new double[Components];
        for (int k = 0; k < Components; k++)
        {
            if (label < numClasses && ComponentClasses[k] != label) { logits[k] = double.NegativeInfinity; continue; }
            double v = alphaBar * Variances[k] + 1 - alphaBar;
            var mu = Mean(k);
            double dist = 0;
            for (int i = 0; i < d; i++) { double diff = x[i] - sa * mu[i]; dist += diff * diff; }
            logits[k] = Math.Log(Weights[k]) - 0.5 * d * Math.Log(v) - dist / (2 * v);
        }
        double max = logits.Max();
        var p = logits.Select(l => Math.Exp(l - max)).ToArray();
        double z = p.Sum();
        var eps = new double[d];
        for (int k = 0; k < Components; k++)
        {
            if (p[k] == 0) continue;
            double q = p[k] / z / (alphaBar * Variances[k] + 1 - alphaBar);
            var mu = Mean(k);
            for (int i = 0; i < d; i++) eps[i] += q * (x[i] - sa * mu[i]);
        }
        double s1a = Math.Sqrt(1 - alphaBar);
        for (int i = 0; i < d; i++) eps[i] *= s1a;
        return eps;
    }

    /// <summary>
    /// Fits <paramref name="componentsPerClass"/> k-means components to each class; a component's
    /// variance is its cluster's mean squared deviation per pixel and its weight the cluster's share.
    /// Classes are fit in parallel; each has its own seed, so the result does not depend on threading.
    /// </summary>
    public static GaussianMixture Fit(LabelledImages data, int numClasses, int componentsPerClass, int iterations, int seed)
    {
        if (componentsPerClass < 1)
            throw new ArgumentOutOfRangeException(nameof(componentsPerClass),
                $"componentsPerClass must be >= 1, got {componentsPerClass}.");
        int d = data.SampleSize, kpc = componentsPerClass, k = numClasses * kpc;
        var means = new float[k * d];
        var variances = new float[k];
        var weights = new float[k];
        var classes = new int[k];
        Parallel.For(0, numClasses, c =>
        {
            var members = Enumerable.Range(0, data.Count).Where(i => data.Labels[i] == c).ToArray();
            if (members.Length < kpc)
                throw new ArgumentException($"Class {c} has {members.Length} training images, fewer than {kpc} components.");
            var points = new float[members.Length * d];
            for (int j = 0; j < members.Length; j++) data.Image(members[j]).CopyTo(points.AsSpan(j * d, d));
            var fit = KMeans.Run(points, members.Length, d, kpc, iterations, seed + c);
            for (int j = 0; j < kpc; j++)
            {
                int comp = c * kpc + j;
                fit.Centroids.AsSpan(j * d, d).CopyTo(means.AsSpan(comp * d, d));
                variances[comp] = fit.Variances[j];
                weights[comp] = (float)((fit.Counts[j] + 1e-3) / (members.Length + kpc * 1e-3) / numClasses);
                classes[comp] = c;
            }
        });
        return new GaussianMixture(means, variances, weights, classes, d);
    }
}
