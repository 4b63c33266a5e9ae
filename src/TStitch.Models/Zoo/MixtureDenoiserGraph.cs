using TStitch.Models.Onnx;
using TStitch.Sampling;
using DT = TStitch.Models.Onnx.TensorProto.Types.DataType;

namespace TStitch.Models.Zoo;

/// <summary>
/// Writes a <see cref="GaussianMixture"/>'s exact epsilon-denoiser as an ONNX graph:
/// inputs x [B,C,H,W] float, t [B] int64 (original timestep), y [B] int64 (class, or the null class);
/// output eps [B,C,H,W]. alpha_bar(t) is a Gather on the schedule; the class restriction is a
/// Gather of a 0 / -1e9 mask row added to the logits (the null-class row is all zeros). The two
/// MatMuls (B x D x K) are the cost, so cost grows with the number of components K.
/// Exact up to float32: the distance is expanded as |x|^2 - 2 sqrt(a) x.mu + a |mu|^2, which loses
/// a few digits near t = 0 (tested against the double-precision formula to 1e-4).
/// </summary>
public static class MixtureDenoiserGraph
{
    public const string LatentsName = "x", TimestepsName = "t", LabelsName = "y", OutputName = "eps";
    private const float MaskedLogit = -1e9f;

    public static byte[] Build(GaussianMixture mixture, NoiseSchedule schedule, int numClasses, int channels, int size, string name)
    {
        int d = mixture.Dimension, k = mixture.Components;
        if (d != channels * size * size)
            throw new ArgumentException($"Mixture dimension {d} does not match {channels}x{size}x{size}.", nameof(mixture));
        var g = new GraphBuilder(name);
        g.AddInput(LatentsName, DT.Float, "batch", channels, size, size);
        g.AddInput(TimestepsName, DT.Int64, "batch");
        g.AddInput(LabelsName, DT.Int64, "batch");
        g.AddOutput(OutputName, DT.Float, "batch", channels, size, size);

        var muT = new float[d * k];
        var muNorm = new float[k];
        var logWeights = new float[k];
        for (int j = 0; j < k; j++)
        {
            var m = mixture.Mean(j);
            double norm = 0;
            for (int i = 0; i < d; i++) { muT[i * k + j] = m[i]; norm += (double)m[i] * m[i]; }
            muNorm[j] = (float)norm;
            logWeights[j] = (float)Math.Log(mixture.Weights[j]);
        }
        var mask = new float[(numClasses + 1) * k];
        for (int c = 0; c < numClasses; c++)
            for (int j = 0; j < k; j++)
                mask[c * k + j] = mixture.ComponentClasses[j] == c ? 0f : MaskedLogit;

        string abarTable = g.Constant("alpha_bar", schedule.AlphasCumprod.Select(a => (float)a).ToArray(), schedule.TrainingSteps);
        string mu = g.Constant("mu", mixture.Means, k, d);
        string muTransposed = g.Constant("mu_t", muT, d, k);
        string variances = g.Constant("var", mixture.Variances, 1, k);
        string muSq = g.Constant("mu_sq", muNorm, 1, k);
        string logW = g.Constant("log_w", logWeights, 1, k);
        string maskTable = g.Constant("class_mask", mask, numClasses + 1, k);
        string one = g.Scalar("one", 1f), two = g.Scalar("two", 2f), halfD = g.Scalar("half_d", 0.5f * d);
        string axis1 = g.Constant("axis1", [1L], 1);

        string xShape = g.Op("Shape", [LatentsName]);
        string xf = g.Op("Reshape", [LatentsName, g.Constant("flat", [-1L, d], 2)]);
        string a = g.Op("Unsqueeze", [g.Op("Gather", [abarTable, TimestepsName]), axis1]);       // [B,1]
        string sa = g.Op("Sqrt", [a]);
        string oneMinusA = g.Op("Sub", [one, a]);
        string v = g.Op("Add", [g.Op("Mul", [a, variances]), oneMinusA]);                         // [B,K]
        string xx = g.Op("ReduceSum", [g.Op("Mul", [xf, xf]), axis1], GraphBuilder.Attr("keepdims", 1L));
        string xm = g.Op("MatMul", [xf, muTransposed]);                                           // [B,K]
        string dist = g.Op("Add", [g.Op("Sub", [xx, g.Op("Mul", [g.Op("Mul", [two, sa]), xm])]), g.Op("Mul", [a, muSq])]);
        string logits = g.Op("Sub", [g.Op("Sub", [logW, g.Op("Mul", [halfD, g.Op("Log", [v])])]), g.Op("Div", [dist, g.Op("Mul", [two,
            v])])]);
        string masked = g.Op("Add", [logits, g.Op("Gather", [maskTable, LabelsName])]);
        string p = g.Op("Softmax", [masked], GraphBuilder.Attr("axis", 1L));
        string q = g.Op("Div", [p, v]);
        string qSum = g.Op("ReduceSum", [q, axis1], GraphBuilder.Attr("keepdims", 1L));           // [B,1]
        string qMu = g.Op("MatMul", [q, mu]);                                                     // [B,D]
        string inner = g.Op("Sub", [g.Op("Mul", [xf, qSum]), g.Op("Mul", [sa, qMu])]);
        string eps = g.Op("Mul", [g.Op("Sqrt", [oneMinusA]), inner]);
        g.OpNamed("Reshape", OutputName, [eps, xShape]);
        return g.ToModelBytes(metadata: new Dictionary<string, string> { ["tstitch.components"] = k.ToString() });
    }
}
