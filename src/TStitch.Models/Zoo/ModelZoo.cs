using System.Diagnostics;
using System.Text.Json;
using TStitch.Sampling;

namespace TStitch.Models.Zoo;

/// <summary>
/// The built-in model zoo: small, base and large exact denoisers of mixtures fit to the same
/// procedural data set, written as ONNX + manifest into one folder with a zoo.json describing the
/// data they came from (so metrics can regenerate the held-out split).
/// </summary>
public sealed class ModelZoo
{
    public const string CatalogFile = "zoo.json";
    /// <summary>The zoo's model names (and the pool names the shipped configuration gives them).</summary>
    public const string Small = "small", Base = "base", Large = "large";

    public string Directory { get; }
    public ZooOptions Options { get; }

    private ModelZoo(string directory, ZooOptions options) { Directory = directory; Options = options; }

    public string ManifestPath(string model) => Path.Combine(Directory, model + ".json");

    /// <summary>Model name -> manifest path for <paramref name="models"/>: a cluster's pools, one per model.</summary>
    public Dictionary<string, string> Manifests(params string[] models) => models.ToDictionary(m => m, ManifestPath);
    public IEnumerable<string> ModelNames => Options.Models.Select(m => m.Name);

    public static bool Exists(string directory) => File.Exists(Path.Combine(directory, CatalogFile));

    public static ModelZoo Open(string directory)
    {
        var catalog = Path.Combine(directory, CatalogFile);
        if (!File.Exists(catalog))
            throw new FileNotFoundException($"No model zoo in '{directory}' (missing {CatalogFile}); run `tstitch zoo build --out " +
                $"{directory}`.", catalog);
        var options = JsonSerializer.Deserialize<ZooOptions>(File.ReadAllText(catalog), ModelManifest.Json)
                      ?? throw new InvalidDataException($"{catalog} is empty.");
        return new ModelZoo(directory, options);
    }

    /// <summary>Opens the zoo in <paramref name="directory"/>, building it first if it is not there.</summary>
    public static ModelZoo OpenOrBuild(string directory, ZooOptions? options = null, Action<string>? log = null) =>
        Exists(directory) ? Open(directory) : Build(directory, options ?? new ZooOptions(), log);

    public static ModelZoo Build(string directory, ZooOptions options, Action<string>? log = null)
    {
        log ??= _ => { };
        System.IO.Directory.CreateDirectory(directory);
        var clock = Stopwatch.StartNew();
        var train = options.Train();
        log($"dataset: {train.Count} training images of {ShapesDataset.Classes} classes ({clock.ElapsedMilliseconds} ms)");
        var schedule = NoiseSchedule.Create(options.Schedule);
        var costs = new Dictionary<string, double>();
        foreach (var spec in options.Models)
        {
            var mixture = GaussianMixture.Fit(train, ShapesDataset.Classes, spec.ComponentsPerClass, options.KMeansIterations,
                options.Seed * 1000);
            var bytes = MixtureDenoiserGraph.Build(mixture, schedule, ShapesDataset.Classes, ShapesDataset.Channels, ShapesDataset.Size,
                spec.Name);
            File.WriteAllBytes(Path.Combine(directory, spec.Name + ".onnx"), bytes);
            var manifest = new ModelManifest
            {
                Name = spec.Name,
                Onnx = spec.Name + ".onnx",
                Io = new ManifestIo(MixtureDenoiserGraph.LatentsName, MixtureDenoiserGraph.TimestepsName, MixtureDenoiserGraph.LabelsName,
                    MixtureDenoiserGraph.OutputName),
                LatentShape = [ShapesDataset.Channels, ShapesDataset.Size, ShapesDataset.Size],
                Prediction = PredictionKind.Epsilon,
                Schedule = new ManifestSchedule(options.Schedule, schedule.TrainingSteps),
                NumClasses = ShapesDataset.Classes,
                NullClassId = ShapesDataset.Classes,
                CostBatch = options.CostBatch,
                Description = $"Exact denoiser of a {mixture.Components}-component Gaussian mixture ({spec.ComponentsPerClass} per " +
                    $"class) fit to the shapes data set (seed {options.Seed}).",
            };
            manifest.Save(Path.Combine(directory, spec.Name + ".json"));
            costs[spec.Name] = MeasureCostMs(Path.Combine(directory, spec.Name + ".json"), options.CostBatch);
            log($"{spec.Name}: {mixture.Components} components, {bytes.Length / 1024} KiB, {costs[spec.Name]:F3} ms/sample at batch " +
                $"{options.CostBatch} ({clock.ElapsedMilliseconds} ms)");
        }
        // Costs are relative to the biggest model (most components), the one stitching saves calls of.
        double referenceCost = costs[options.Models.MaxBy(m => m.ComponentsPerClass)!.Name];
        foreach (var spec in options.Models)
        {
            var path = Path.Combine(directory, spec.Name + ".json");
            var m = ModelManifest.Load(path);
            (m with { CostMsPerSample = costs[spec.Name], RelativeCost = costs[spec.Name] / referenceCost }).Save(path);
        }
        File.WriteAllText(Path.Combine(directory, CatalogFile), JsonSerializer.Serialize(options, ModelManifest.Json));
        return new ModelZoo(directory, options);
    }

    /// <summary>Median ORT time per sample over 15 runs after warm-up, on random inputs at mid-schedule.</summary>
    public static double MeasureCostMs(string manifestPath, int batch, int repetitions = 15)
    {
        using var model = new OnnxDenoiser(manifestPath);
        var info = model.Info;
        var latents = new float[batch * info.SampleSize];
        StepNoise.Fill(latents, 42, 0, 0);
        var input = new DenoiseInput(latents, Enumerable.Repeat(info.TrainingSteps / 2, batch).ToArray(),
            Enumerable.Range(0, batch).Select(i => i % info.NumClasses).ToArray(), 1f);
        for (int i = 0; i < 3; i++) model.Run(input);
        var times = new double[repetitions];
        for (int i = 0; i < repetitions; i++)
        {
            long start = Stopwatch.GetTimestamp();
            model.Run(input);
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds / batch;
        }
        Array.Sort(times);
        return times[repetitions / 2];
    }
}
