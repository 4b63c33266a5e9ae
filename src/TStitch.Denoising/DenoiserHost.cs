using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using TStitch.Hosting;
using TStitch.Hosting.Auth;
using TStitch.Models;
using TStitch.Models.Zoo;

namespace TStitch.Denoising;

/// <summary>Composes a denoiser pool replica; SmallDenoiser and LargeDenoiser are this with other settings.</summary>
public static class DenoiserHost
{
    public static WebApplication Create(string[] args, string serviceName)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults(serviceName);
        // Only the orchestrator calls a replica: a shared token (Auth:ServiceToken) rather than mTLS,
        // because a token rotates like any Kubernetes Secret and needs no CA to issue client certificates.
        builder.AddCallerAuthentication(CallerCredential.ServiceToken);
        builder.Services.AddOptions<DenoiserOptions>().BindConfiguration(DenoiserOptions.Section).ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<DenoiserOptions>>().Value;
            if (o.BuildZooIfMissing && !File.Exists(o.Model))
                ModelZoo.OpenOrBuild(Path.GetDirectoryName(Path.GetFullPath(o.Model))!);
            return new OnnxDenoiser(o.Model, o.Session);
        });
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<DenoiserOptions>>().Value;
            return new ReplicaDecoder(sp.GetRequiredService<OnnxDenoiser>(), o.Model, o.Session);
        });
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<DenoiserOptions>>().Value;
            return new DynamicBatcher(sp.GetRequiredService<OnnxDenoiser>(), o.Batching);
        });
        builder.Services.AddSingleton<StageRunner>();
        builder.Services.AddSingleton<ReplicaHealth>();
        builder.Services.AddHealthChecks().AddCheck<DenoiserHealthCheck>("denoiser");
        var app = builder.Build();
        app.MapGrpcService<DenoiserService>();
        app.MapDefaultEndpoints();
        // Load the model now, before the server starts: a bad path or a broken model stops the replica at
        // start-up with the loader's message, instead of a replica that is up but fails every call.
        app.Services.GetRequiredService<DynamicBatcher>();
        app.Services.GetRequiredService<ReplicaDecoder>();
        return app;
    }
}
