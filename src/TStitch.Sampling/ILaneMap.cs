using System.Runtime.Intrinsics;

namespace TStitch.Sampling;

/// <summary>
/// A sampler's update of one latent value, x_t -> x_next, as a scalar and as four lanes of doubles
/// (<see cref="FloatLanes.Map"/> runs it over a batch). Both forms must do the same IEEE operations in
/// the same order, so a value gets the same bits wherever it falls in the batch.
/// </summary>
internal interface ILaneMap
{
    double Next(double xt, double output, double noise);
    Vector256<double> Next(Vector256<double> xt, Vector256<double> output, Vector256<double> noise);
}
