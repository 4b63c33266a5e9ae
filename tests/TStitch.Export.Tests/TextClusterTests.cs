using Grpc.Core;
using TStitch.Contracts;
using TStitch.Imaging;
using TStitch.LocalCluster;
using TStitch.Models;
using TStitch.Models.Text;
using TStitch.Sampling;

namespace TStitch.Export.Tests;

/// <summary>
/// A text family served by the real cluster (LoopbackCluster, in-memory job store): the tiny CLIP text
/// encoder in the orchestrator, the tiny UNet pair (BK-SDM-like small, SD-like large) as pools, the tiny
/// VAE decoding. Prompts in, PNG out; the latents are the in-process library's, byte for byte.
/// </summary>
[Collection(ExportCollection.Name)]
public sealed class TextClusterTests(ExportFixture fx)
{
    private string Small => Path.Combine(fx.Directory, "unet-tiny-small.json");
    private string Large => Path.Combine(fx.Directory, "unet-tiny.json");
    private string Clip => Path.Combine(fx.Directory, "clip-tiny.json");

    private static GenerateRequest Request(OutputKind output, params string[] prompts)
    {
        var r = new GenerateRequest { Steps = 6, SmallFraction = 0.5, Seed = 11, Sampler = "ddim", Output = output, GuidanceScale = 3f };
        r.Prompts.AddRange(prompts);
        return r;
    }

    private Task<LoopbackCluster> StartAsync(string runMode = "stage", string? small = null, string? large = null,
        bool textEncoder = true) =>
        LoopbackCluster.StartAsync(new Dictionary<string, string> { ["small"] = small ?? Small, ["large"] = large ?? Large },
            orchestratorArgs: [$"--Orchestrator:RunMode={runMode}",
                .. textEncoder ? [$"--Orchestrator:TextEncoder={Clip}"] : Array.Empty<string>()]);

    /// <summary>The same job in process: the encoder's embeddings (negative prompt once per image), the library's trajectory.</summary>
    private async Task<float[]> LibraryAsync(string[] prompts, string negative, int steps, double fraction, ulong seed, float guidance)
    {
        using var encoder = new OnnxTextEncoder(Clip);
        var conditional = encoder.Encode(prompts);
        var one = encoder.Encode([negative]);
        var unconditional = Enumerable.Range(0, prompts.Length).SelectMany(_ => one).ToArray();
        var embeddings = new PromptEmbeddings(conditional, unconditional, new EmbeddingShape(encoder.MaxTokens, encoder.Width));
        using var small = new OnnxDenoiser(Small);
        using var large = new OnnxDenoiser(Large);
        var request = new TrajectoryRequest([], steps, SamplerKind.Ddim, SwitchSchedule.SmallThenLarge(fraction, "small", "large"),
            guidance, seed)
        {
            Prompts = embeddings,
        };
        var trajectory = new Trajectory(request, new Dictionary<string, IDenoiser> { ["small"] = small, ["large"] = large });
        return (await trajectory.RunAsync(trajectory.Start())).Latents;
    }

    [Theory]
    [InlineData("stage")]
    [InlineData("step")]
    public async Task Prompts_become_a_png_of_the_decoded_latents_the_library_makes(string runMode)
    {
        await using var cluster = await StartAsync(runMode);
        using var channel = GrpcChannels.Create(cluster.OrchestratorAddress);
        string[] prompts = ["a photo of a cat", "a red car on a street"];
        var request = Request(OutputKind.PngAndRaw, prompts);
        request.NegativePrompt = "blurry";
        var result = await new Orchestrator.OrchestratorClient(channel).GenerateAsync(request, deadline: DateTime.UtcNow.AddMinutes(2));

        var latents = result.Samples.ToFloats("samples", 2, 4, 8, 8);
        Assert.Equal(await LibraryAsync(prompts, "blurry", 6, 0.5, 11, 3f), latents);
        Assert.Equal(new Dictionary<string, int> { ["small"] = 3, ["large"] = 3 }, result.Job.CallsPerPool);
        using var decoder = new OnnxDecoder(fx.VaeManifest);
        Assert.Equal(ImageGrid.ToPng(decoder.Decode(latents, 2), 2, 3, 16, 16, 2), result.Png.ToByteArray());

        // The negative prompt is really the unconditional half: another one gives other latents.
        request.NegativePrompt = "";
        request.Output = OutputKind.Raw;
        var plain = await new Orchestrator.OrchestratorClient(channel).GenerateAsync(request, deadline: DateTime.UtcNow.AddMinutes(2));
        Assert.NotEqual(latents, plain.Samples.ToFloats("samples"));
        Assert.Equal(await LibraryAsync(prompts, "", 6, 0.5, 11, 3f), plain.Samples.ToFloats("samples"));
    }

    [Fact]
    public async Task The_pools_report_text_conditioning_and_leading_spacing()
    {
        await using var cluster = await StartAsync();
        using var channel = GrpcChannels.Create(cluster.Pools["small"]);
        var info = await new Denoiser.DenoiserClient(channel).GetModelInfoAsync(new GetModelInfoRequest());
        Assert.Equal("text-embedding", info.Conditioning);
        Assert.Equal([77, new OnnxTextEncoder(Clip).Width], info.ContextShape);
        Assert.Equal("leading", info.TimestepSpacing);
        Assert.Equal("scaled-linear", info.Schedule);
    }

    [Fact]
    public async Task Bad_text_requests_are_invalid_argument_naming_the_field()
    {
        await using var cluster = await StartAsync();
        using var channel = GrpcChannels.Create(cluster.OrchestratorAddress);
        var client = new Orchestrator.OrchestratorClient(channel);
        async Task<RpcException> Refused(GenerateRequest r) =>
            await Assert.ThrowsAsync<RpcException>(async () => await client.GenerateAsync(r));

        // No prompts at all.
        var e = await Refused(Request(OutputKind.Raw));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("prompts is empty", e.Status.Detail);

        // Over CLIP's 77 tokens (start + 80 words + end): refused, not truncated.
        e = await Refused(Request(OutputKind.Raw, "a cat", string.Join(' ', Enumerable.Repeat("cat", 80))));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("prompts[1]", e.Status.Detail);
        Assert.Contains("82", e.Status.Detail);

        // Class labels to a text family.
        var labels = Request(OutputKind.Raw);
        labels.ClassLabels.Add(3);
        e = await Refused(labels);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("send prompts", e.Status.Detail);

        // Both.
        labels.Prompts.Add("a cat");
        e = await Refused(labels);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("not both", e.Status.Detail);
    }

    [Fact]
    public async Task Prompts_to_a_class_family_are_invalid_argument_with_or_without_a_text_encoder()
    {
        foreach (bool textEncoder in new[] { false, true })
        {
            await using var cluster = await StartAsync(small: fx.DitSmallManifest, large: fx.DitManifest, textEncoder: textEncoder);
            using var channel = GrpcChannels.Create(cluster.OrchestratorAddress);
            var e = await Assert.ThrowsAsync<RpcException>(async () =>
                await new Orchestrator.OrchestratorClient(channel).GenerateAsync(Request(OutputKind.Raw, "a cat")));
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Contains(textEncoder ? "conditioned on class labels" : "serves no text family", e.Status.Detail);
        }
    }

    public static TheoryData<string, Action<StageRunRequest, int>, string> BadTextStageRuns => new()
    {
        { "no embeddings", (r, _) => { r.Trajectory.PromptEmbeddings = null; r.Trajectory.NegativeEmbeddings = null; },
            "send prompt_embeddings" },
        { "embeddings of another width", (r, width) => r.Trajectory.PromptEmbeddings = Embeddings(2, 77, width + 1), "prompt_embeddings" },
        { "no negative embeddings", (r, _) => r.Trajectory.NegativeEmbeddings = null, "negative_embeddings" },
        { "fewer negative than prompt embeddings", (r, width) => r.Trajectory.NegativeEmbeddings = Embeddings(1, 77, width),
            "negative_embeddings" },
        { "non-finite embeddings", (r, width) => r.Trajectory.PromptEmbeddings = Embeddings(2, 77, width, float.NaN), "prompt_embeddings" },
        { "DiT's timestep spacing", (r, _) => r.Trajectory.TimestepSpacing = "dit", "timestep_spacing" },
    };

    private static Tensor Embeddings(int batch, int tokens, int width, float value = 0.1f) =>
        TensorMessages.FromFloats(Enumerable.Repeat(value, batch * tokens * width).ToArray(), batch, tokens, width);

    [Theory]
    [MemberData(nameof(BadTextStageRuns))]
    public async Task Bad_text_stage_runs_get_invalid_argument_naming_the_field(string name, Action<StageRunRequest, int> spoil,
        string expected)
    {
        await using var cluster = await StartAsync();
        using var channel = GrpcChannels.Create(cluster.Pools["small"]);
        var client = new Denoiser.DenoiserClient(channel);
        int width = (await client.GetModelInfoAsync(new GetModelInfoRequest())).ContextShape[1];
        var trajectory = new TrajectoryParameters
        {
            Steps = 6, Sampler = "ddim", GuidanceScale = 3, Seed = 3, NoiseSchedule = "scaled-linear", TrainingSteps = 1000,
            TimestepSpacing = "leading", PromptEmbeddings = Embeddings(2, 77, width), NegativeEmbeddings = Embeddings(2, 77, width, 0f),
        };
        var request = new StageRunRequest { Trajectory = trajectory, ToStep = 3, State = new SamplerCheckpoint { Step = 0 } };

        // The unspoiled request runs.
        using (var good = client.RunStage(request))
            while (await good.ResponseStream.MoveNext(CancellationToken.None)) { }

        spoil(request, width);
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = client.RunStage(request);
            while (await call.ResponseStream.MoveNext(CancellationToken.None)) { }
        });
        Assert.True(ex.StatusCode == StatusCode.InvalidArgument, $"{name}: {ex.StatusCode} {ex.Status.Detail}");
        Assert.Contains(expected, ex.Status.Detail);
    }
}
