using System.Numerics.Tensors;

namespace TStitch.Quality;

/// <summary>
/// k-NN classifier on standardised features: a training-free stand-in for a class-conditional
/// "does this sample look like its label" check (like Inception-score's classifier, minus training).
/// </summary>
public sealed class KnnClassifier
{
    private readonly double[] _mean;
    private readonly double[] _invStd;
    private readonly double[][] _train;
    private readonly int[] _labels;
    private readonly int _k;

    public int Dimension => _mean.Length;

    public KnnClassifier(double[][] trainFeatures, int[] trainLabels, int k = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        if (trainFeatures.Length == 0) throw new ArgumentException("Empty training set.", nameof(trainFeatures));
        if (trainFeatures.Length != trainLabels.Length)
            throw new ArgumentException("Features and labels differ in length.", nameof(trainLabels));

        int dim = trainFeatures[0].Length;
        _mean = new double[dim];
        _invStd = new double[dim];
        foreach (var f in trainFeatures) TensorPrimitives.Add(_mean, f, _mean);
        TensorPrimitives.Divide(_mean, trainFeatures.Length, _mean);
        foreach (var f in trainFeatures)
            for (int j = 0; j < dim; j++) _invStd[j] += (f[j] - _mean[j]) * (f[j] - _mean[j]);
        for (int j = 0; j < dim; j++)
        {
            double std = Math.Sqrt(_invStd[j] / trainFeatures.Length);
            // Dead ReLU features are constant; dropping them (weight 0) beats dividing by ~0.
            _invStd[j] = std > 1e-12 ? 1 / std : 0;
        }

        _train = trainFeatures.Select(Standardise).ToArray();
        _labels = (int[])trainLabels.Clone();
        _k = Math.Min(k, trainFeatures.Length);
    }

    public int Predict(double[] f)
    {
        if (f.Length != Dimension) throw new ArgumentException($"Expected {Dimension} features.", nameof(f));
        var x = Standardise(f);

        // Bounded insertion list of the k nearest (distance, label), nearest first.
        var bestDist = new double[_k];
        var bestLabel = new int[_k];
        Array.Fill(bestDist, double.PositiveInfinity);
        for (int i = 0; i < _train.Length; i++)
        {
            double d = TensorPrimitives.Distance(x, _train[i]);
            if (d >= bestDist[_k - 1]) continue;
            int p = _k - 1;
            while (p > 0 && bestDist[p - 1] > d) { bestDist[p] = bestDist[p - 1]; bestLabel[p] = bestLabel[p - 1]; p--; }
            bestDist[p] = d;
            bestLabel[p] = _labels[i];
        }

        var votes = new Dictionary<int, int>();
        foreach (var l in bestLabel) votes[l] = votes.GetValueOrDefault(l) + 1;
        int top = votes.Values.Max();
        // Ties go to whichever tied class owns the nearest neighbour, i.e. the first in nearest-first order.
        foreach (var l in bestLabel)
            if (votes[l] == top) return l;
        throw new InvalidOperationException("unreachable");
    }

    public double Accuracy(double[][] features, int[] labels)
    {
        if (features.Length != labels.Length) throw new ArgumentException("Features and labels differ in length.", nameof(labels));
        if (features.Length == 0) return double.NaN;
        int correct = 0;
        Parallel.For(0, features.Length, () => 0,
            (i, _, local) => Predict(features[i]) == labels[i] ? local + 1 : local,
            local => Interlocked.Add(ref correct, local));
        return (double)correct / features.Length;
    }

    private double[] Standardise(double[] f)
    {
        var x = new double[f.Length];
        TensorPrimitives.Subtract(f, _mean, x);
        TensorPrimitives.Multiply(x, _invStd, x);
        return x;
    }
}
