using MathNet.Numerics.LinearAlgebra;

namespace TStitch.Quality;

/// <summary>Fréchet distance between Gaussians fitted to two feature sets (the "F" in FID).</summary>
public static class FrechetDistance
{
    public static double Compute(double[][] a, double[][] b)
    {
        var (m1, c1) = Moments(a);
        var (m2, c2) = Moments(b);
        return Compute(m1, c1, m2, c2);
    }

    /// <summary>
    /// ||m1-m2||^2 + Tr(C1) + Tr(C2) - 2 Tr(sqrt(sqrt(C1) C2 sqrt(C1))). The symmetric form is used
    /// instead of sqrt(C1 C2) because C1 C2 is not symmetric, and its general sqrtm is what makes
    /// reference FID implementations return complex values on near-singular covariances.
    /// </summary>
    internal static double Compute(Vector<double> mean1, Matrix<double> cov1, Vector<double> mean2, Matrix<double> cov2)
    {
        if (mean1.Count != mean2.Count || cov1.RowCount != mean1.Count || cov2.RowCount != mean2.Count)
            throw new ArgumentException("Mean and covariance dimensions disagree.");
        var diff = mean1 - mean2;
        var s1 = SqrtPsd(cov1);
        var inner = SqrtPsd(s1 * cov2 * s1);
        return diff.DotProduct(diff) + cov1.Trace() + cov2.Trace() - 2 * inner.Trace();
    }

    /// <summary>Sample mean and (n-1)-normalised covariance, rows = observations.</summary>
    internal static (Vector<double> Mean, Matrix<double> Cov) Moments(double[][] x)
    {
        if (x.Length < 2) throw new ArgumentException("Need at least two feature vectors.", nameof(x));
        var m = Matrix<double>.Build.DenseOfRowArrays(x);
        var mean = m.ColumnSums() / m.RowCount;
        for (int j = 0; j < m.ColumnCount; j++)
        {
            double mu = mean[j];
            for (int i = 0; i < m.RowCount; i++) m[i, j] -= mu;
        }
        var cov = m.TransposeThisAndMultiply(m) / (m.RowCount - 1);
        return (mean, cov);
    }

    /// <summary>
    /// Square root of a symmetric PSD matrix. Rounding makes sample covariances slightly asymmetric
    /// and slightly indefinite, so we symmetrise and clip negative eigenvalues rather than fail.
    /// </summary>
    internal static Matrix<double> SqrtPsd(Matrix<double> a)
    {
        var sym = (a + a.Transpose()) * 0.5;
        var evd = sym.Evd(Symmetricity.Symmetric);
        var v = evd.EigenVectors;
        var sqrtVals = evd.EigenValues.Map(z => Math.Sqrt(Math.Max(z.Real, 0)));
        return v * Matrix<double>.Build.DiagonalOfDiagonalVector(sqrtVals) * v.Transpose();
    }
}
