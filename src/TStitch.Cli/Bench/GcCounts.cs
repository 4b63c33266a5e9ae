namespace TStitch.Cli.Bench;

/// <summary>
/// The process's garbage collections by generation, to print what a measured part cost in collections
/// (the whole cluster runs in the benchmark's process, so they are the cluster's too).
/// </summary>
internal readonly record struct GcCounts(int Gen0, int Gen1, int Gen2)
{
    public static GcCounts Now() => new(GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));

    /// <summary>"gen0 a, gen1 b, gen2 c" since <paramref name="before"/>.</summary>
    public string Since(GcCounts before) => $"gen0 {Gen0 - before.Gen0}, gen1 {Gen1 - before.Gen1}, gen2 {Gen2 - before.Gen2}";
}
