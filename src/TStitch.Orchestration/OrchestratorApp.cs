using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using TStitch.Hosting;

namespace TStitch.Orchestration;

/// <summary>Composes the orchestrator (services/Orchestrator's Program.cs, the demo and the tests use it).</summary>
public static class OrchestratorApp
{
    public static WebApplication Create(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults("orchestrator");
        builder.Services.AddOptions<OrchestratorOptions>().BindConfiguration(OrchestratorOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<IJobStore>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<OrchestratorOptions>>().Value;
            if (string.IsNullOrWhiteSpace(o.Redis))
            {
                sp.GetRequiredService<ILogger<InMemoryJobStore>>().LogWarning("Orchestrator:Redis is not set: jobs live in memory and do not survive a restart.");
                return new InMemoryJobStore();
            }
            return new RedisJobStore(sp.GetRequiredService<IConnectionMultiplexer>(), o.FinishedJobTtl);
        });
        // Registered so the container disposes it; abortConnect=false lets the service start (and
        // report its errors per call) while Redis is still coming up.
        builder.Services.AddSingleton<IConnectionMultiplexer>(sp =>
        {
            var config = ConfigurationOptions.Parse(sp.GetRequiredService<IOptions<OrchestratorOptions>>().Value.Redis);
            config.AbortOnConnectFail = false;
            return ConnectionMultiplexer.Connect(config);
        });
        builder.Services.AddSingleton<DenoiserPools>();
        builder.Services.AddSingleton<JobManager>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<JobManager>());
        builder.Services.AddHostedService<JobRecovery>();
        var app = builder.Build();
        app.MapGrpcService<OrchestratorService>();
        app.MapDefaultEndpoints();
        return app;
    }
}

/// <summary>
/// Keeps jobs alive across orchestrators: on start it resumes the jobs a dead orchestrator left
/// running (from their last checkpoints), then every third of a lease renews this orchestrator's
/// claims, honours cancel requests and takes over jobs whose owner stopped renewing.
/// </summary>
public sealed class JobRecovery(JobManager jobs, IOptions<OrchestratorOptions> options, ILogger<JobRecovery> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.JobLease / 3);
        do
        {
            try
            {
                int resumed = await jobs.MaintainAsync(stoppingToken);
                if (resumed > 0) logger.LogInformation("Resumed {Count} unfinished job(s) from the job store", resumed);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning("Job maintenance failed, retrying next period: {Error}", ex.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
