using System.Text.Json.Nodes;
using Grpc.Core;
using TStitch.Contracts;
using TStitch.Imaging;
using TStitch.LocalCluster;
using TStitch.Models;
using TStitch.Orchestration;
using TStitch.Sampling;

namespace TStitch.Export.Tests;

/// <summary>
/// The tiny exported DiT pair (depth 1 -> depth 2, 4x8x8 latents) plus the tiny VAE decoder served by
/// the real cluster (LoopbackCluster, in-memory job store): Generate returns a PNG of decoded images.
/// </summary>
[Collection(ExportCollection.Name)]
public sealed class ClusterDecodeTests(ExportFixture fx)
{
    private static GenerateRequest Request(OutputKind output, params int[] labels)
    {
        var r = new GenerateRequest { Steps = 8, SmallFraction = 0.5, Seed = 5, Sampler = "ddim", Output = output, GuidanceScale = 1.5f };
        r.ClassLabels.AddRange(labels);
        return r;
    }

    private static async Task<LoopbackCluster> StartAsync(string small, string large) =>
        await LoopbackCluster.StartAsync(new Dictionary<string, string> { ["small"] = small, ["large"] = large });

    [Fact]
    public async Task Generate_decodes_the_final_latents_into_the_png()
    {
        await using var cluster = await StartAsync(fx.DitSmallManifest, fx.DitManifest);
        using var channel = GrpcChannels.Create(cluster.OrchestratorAddress);
        var request = Request(OutputKind.PngAndRaw, 1, 7, 10 - 1);
        var result = await new Orchestrator.OrchestratorClient(channel).GenerateAsync(request, deadline: DateTime.UtcNow.AddMinutes(2));

        // Raw output is still the latents, and they are the library's, byte for byte.
        var latents = result.Samples.ToFloats("samples", 3, 4, 8, 8);
        using var small = new OnnxDenoiser(fx.DitSmallManifest);
        using var large = new OnnxDenoiser(fx.DitManifest);
        var options = new OrchestratorOptions { Pools = { ["small"] = "http://small", ["large"] = "http://large" } };
        var trajectory = new Trajectory(JobRequestMapping.ToJob(request, options).Spec.ToTrajectory(),
            new Dictionary<string, IDenoiser> { ["small"] = small, ["large"] = large });
        var expected = (await trajectory.RunAsync(trajectory.Start())).Latents;
        Assert.Equal(expected, latents);
        Assert.Equal(new Dictionary<string, int> { ["small"] = 4, ["large"] = 4 }, result.Job.CallsPerPool);

        // The PNG is the decoded images (3 x 16 x 16 each, one row of 3 with 2-pixel padding), not the latents.
        using var decoder = new OnnxDecoder(fx.VaeManifest);
        var images = decoder.Decode(latents, 3);
        var png = result.Png.ToByteArray();
        Assert.Equal(3 * (16 + 2) + 2, BigEndian(png, 16));
        Assert.Equal(16 + 2 + 2, BigEndian(png, 20));
        Assert.Equal(ImageGrid.ToPng(images, 3, 3, 16, 16, 3), png);
    }

    [Fact]
    public async Task The_pools_report_their_decoder_and_conditioning()
    {
        await using var cluster = await StartAsync(fx.DitSmallManifest, fx.DitManifest);
        using var channel = GrpcChannels.Create(cluster.Pools["large"]);
        var info = await new Denoiser.DenoiserClient(channel).GetModelInfoAsync(new GetModelInfoRequest());
        Assert.True(info.HasDecoder);
        Assert.Equal([3, 16, 16], info.ImageShape);
        Assert.Equal("class-label", info.Conditioning);
    }

    [Fact]
    public async Task Latents_without_a_decoder_and_png_output_are_refused_at_submit()
    {
        // The same large model, its manifest naming no decoder.
        var bare = Path.Combine(fx.Directory, "dit-tiny-nodecoder.json");
        var json = JsonNode.Parse(File.ReadAllText(fx.DitManifest))!.AsObject();
        json.Remove("decoder");
        json["name"] = "dit-tiny-nodecoder";
        File.WriteAllText(bare, json.ToJsonString());

        await using var cluster = await StartAsync(fx.DitSmallManifest, bare);
        using var channel = GrpcChannels.Create(cluster.OrchestratorAddress);
        var client = new Orchestrator.OrchestratorClient(channel);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.GenerateAsync(Request(OutputKind.Png, 1)));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("4-channel latents and has no decoder", e.Status.Detail);
        Assert.Contains("'large'", e.Status.Detail);

        // Raw output needs no decoder: the latents come back.
        var raw = await client.GenerateAsync(Request(OutputKind.Raw, 1));
        Assert.Equal(4 * 8 * 8, raw.Samples.ToFloats("samples").Length);
        Assert.True(raw.Png.IsEmpty);
    }

    [Fact]
    public void A_conditioning_kind_this_version_cannot_serve_or_a_text_embedding_without_its_shape_is_refused_at_load()
    {
        var path = Path.Combine(fx.Directory, "dit-tiny-audio.json");
        var json = JsonNode.Parse(File.ReadAllText(fx.DitManifest))!.AsObject();
        json["conditioning"] = new JsonObject { ["kind"] = "audio-embedding" };
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => ModelManifest.Load(path));
        Assert.Contains("conditioning kind 'audio-embedding'", e.Message);

        json["conditioning"] = new JsonObject { ["kind"] = "text-embedding", ["tokens"] = 77 };
        File.WriteAllText(path, json.ToJsonString());
        e = Assert.Throws<InvalidDataException>(() => ModelManifest.Load(path));
        Assert.Contains("\"tokens\" and \"width\"", e.Message);
        Assert.Equal("class-label", ModelManifest.Load(fx.DitManifest).Conditioning.Kind);
    }

    private static int BigEndian(byte[] b, int at) => (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
}
