namespace TStitch.Quality;

/// <summary>
/// FID-style quality report for generated 32x32 RGB images against a held-out reference set, plus a
/// class-consistency check from a k-NN classifier fitted on a separate train split. The classifier
/// never sees the reference split, so <see cref="ReferenceClassAccuracy"/> is an honest ceiling for
/// what generated images can score.
/// </summary>
public sealed class FidProxy : IDisposable
{
    private readonly FeatureNet _net;
    private readonly double[][] _referenceFeatures;
    private readonly KnnClassifier _classifier;

    public double ReferenceClassAccuracy { get; }
    /// <summary>Number of classes in the reference labels (labels are 0 .. Classes-1).</summary>
    public int Classes { get; }

    public FidProxy(ReadOnlySpan<float> referenceImages, int[] referenceLabels,
        ReadOnlySpan<float> trainImages, int[] trainLabels, int seed = 123)
    {
        CheckLength(referenceImages, referenceLabels.Length, nameof(referenceImages));
        CheckLength(trainImages, trainLabels.Length, nameof(trainImages));
        _net = new FeatureNet(seed);
        try
        {
            _referenceFeatures = _net.Extract(referenceImages, referenceLabels.Length);
            _classifier = new KnnClassifier(_net.Extract(trainImages, trainLabels.Length), trainLabels);
            ReferenceClassAccuracy = _classifier.Accuracy(_referenceFeatures, referenceLabels);
            Classes = referenceLabels.Max() + 1;
        }
        catch
        {
            _net.Dispose();
            throw;
        }
    }

    public QualityReport Evaluate(ReadOnlySpan<float> images, int[] labels) => Evaluate(Features(images, labels.Length), labels);

    /// <summary>
    /// The feature vectors <see cref="Evaluate(double[][], int[])"/> scores, one per image (128 values against an image's 3,072).
    /// </summary>
    public double[][] Features(ReadOnlySpan<float> images, int count)
    {
        CheckLength(images, count, nameof(images));
        return _net.Extract(images, count);
    }

    /// <summary>Scores images already turned into <see cref="Features"/>, with the labels they were conditioned on.</summary>
    public QualityReport Evaluate(double[][] features, int[] labels)
    {
        if (features.Length != labels.Length)
            throw new ArgumentException($"Expected one feature vector per label ({labels.Length}), got {features.Length}.",
                nameof(features));
        double fd = FrechetDistance.Compute(_referenceFeatures, features);
        var (precision, recall) = PrecisionRecall.Compute(_referenceFeatures, features);
        double accuracy = _classifier.Accuracy(features, labels);
        return new QualityReport(fd, precision, recall, accuracy);
    }

    public void Dispose() => _net.Dispose();

    private static void CheckLength(ReadOnlySpan<float> images, int count, string name)
    {
        if (images.Length != (long)count * FeatureNet.ImageLength)
            throw new ArgumentException(
                $"Expected {count} images of {FeatureNet.ImageLength} floats (one per label), got {images.Length} floats.", name);
    }
}
